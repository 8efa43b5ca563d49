import { expect, test } from 'vitest';
import { labOptionsFor, startLab } from '../harness/index.js';
import type { LabApiserver } from '../harness/lab.js';
import { SCENARIOS } from './catalog.js';
import { LIVEZ_HOLD, restartEach } from './common-steps.js';
import type { RunEvent, Scenario } from './model.js';
import { runScenario, runScenarios } from './runner.js';

test('a restart the KMS holds back reports a countdown with the reason while it waits', async () => {
  const events: RunEvent[] = [];
  const picked = SCENARIOS.filter((s) => ['kms-outage-restart', 'key-disabled-before-migration'].includes(s.name));
  const report = await runScenarios(
    picked,
    (s) => startLab({ backend: 'sim', seed: 'hold', ...labOptionsFor(s.needs) }),
    {
      params: { secrets: 2 },
      onEvent: (e) => events.push(e),
    },
  );
  expect(report.outcome).toBe('passed');
  for (const s of picked) {
    const restart = report.scenarios.find((r) => r.name === s.name)!.steps.find((st) => /restart/.test(st.name))!;
    const waits = events.filter(
      (e): e is Extract<RunEvent, { type: 'waiting' }> =>
        e.type === 'waiting' && e.scenario === s.name && e.step === restart.name,
    );
    expect(waits.length, s.name).toBeGreaterThan(10);
    expect(waits[0]!.what).toMatch(/\/livez: a start without a usable KMS holds it ~60 s/);
    // Counting down to about when the hold ends.
    expect(waits[0]!.remainingMs).toBeLessThanOrEqual(70_000);
    expect(waits.at(-1)!.remainingMs).toBeLessThan(waits[0]!.remainingMs);
  }
});

test("a restart that fails while its countdown runs fails the step with the restart's own error", async () => {
  const lab = await startLab({ backend: 'sim', seed: 'exit' });
  const [apiserver] = lab.apiservers;
  const dying = Object.assign(Object.create(apiserver!) as LabApiserver, {
    restart: async () => {
      await lab.clock.sleep(5_000);
      throw new Error('kube-apiserver exited (exit code 255)');
    },
  });
  const scenario: Scenario = {
    name: 'dying',
    summary: 's',
    proves: 'p',
    tags: [],
    needs: {},
    run: (l, ctx) => ctx.step('restart', () => restartEach(ctx, [dying], 'live', LIVEZ_HOLD)),
  };
  try {
    const result = await runScenario(scenario, lab, { artifactsDir: '/tmp/kmslab-common-steps-test' });
    expect(result.steps[0]!.outcome).toBe('failed');
    expect(result.steps[0]!.error?.message).toBe('kube-apiserver exited (exit code 255)');
    expect(result.error).not.toMatch(/unhandled/);
  } finally {
    await lab.close();
  }
});
