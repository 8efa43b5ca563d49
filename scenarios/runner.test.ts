import { describe, expect, test } from 'vitest';
import { realClock, startLab, type Lab } from '../harness/index.js';
import { auditMark } from './audit-mark.js';
import { ScenarioFailure } from './error-class.js';
import type { Evidence, Scenario } from './model.js';
import { runScenario, runScenarios } from './runner.js';

test('when the audit trail cannot be read, a step says its KMS calls are unknown instead of counting the whole trail', async () => {
  const lab = await startLab({ backend: 'sim', seed: 'audit' });
  const blind: Lab = Object.assign(Object.create(lab) as Lab, {
    kms: { ...lab.kms, audit: () => Promise.reject(new Error('control socket gone')) },
  });
  const scenario: Scenario = {
    name: 'blind',
    summary: 's',
    proves: 'p',
    tags: [],
    needs: {},
    async run(l, ctx) {
      await ctx.step(
        'write',
        async () => void (await l.api.createSecret({ namespace: ctx.namespace, name: 'a' }, { k: 'v' })),
      );
      await ctx.step('mark', async () => auditMark(l));
    },
  };
  const result = await runScenario(scenario, blind, { artifactsDir: '/tmp/kmslab-runner-test' });
  expect(result.steps[0]!.evidence.kmsCalls).toEqual({ unavailable: 'audit trail unreadable: control socket gone' });
  expect(result.steps[1]!.outcome).toBe('failed');
  expect(result.steps[1]!.error?.message).toMatch(/control socket gone/);
  await lab.close();
});

// A scenario of the given code on a fresh sim lab; the lab is closed afterwards.
async function runOnSim(run: Scenario['run'], options: Parameters<typeof runScenario>[2] = {}, lab?: Lab) {
  const sim = lab ?? (await startLab({ backend: 'sim', seed: 'runner' }));
  const scenario: Scenario = { name: 'subject', summary: 's', proves: 'p', tags: [], needs: {}, run };
  try {
    return await runScenario(scenario, sim, { artifactsDir: '/tmp/kmslab-runner-test', ...options });
  } finally {
    await sim.close();
  }
}

describe('a scenario never passes on its own word', () => {
  test('one that records no step fails: it proved nothing', async () => {
    const result = await runOnSim(async (lab) => void (await lab.kms.status()));
    expect(result.outcome).toBe('failed');
    expect(result.error).toMatch(/recorded no step, so it proved nothing/);
  });

  test('one whose code catches a failed step and goes on fails with that step', async () => {
    const result = await runOnSim(async (_lab, ctx) => {
      await ctx
        .step('fails', async () => {
          throw new ScenarioFailure('not what was expected');
        })
        .catch(() => undefined);
      await ctx.step('passes', async () => undefined);
    });
    expect(result.outcome).toBe('failed');
    expect(result.error).toMatch(/step "fails" failed \(not what was expected\) and the scenario's code went on/);
  });

  test('one that returns while a step it did not await still runs fails, naming the step', async () => {
    const result = await runOnSim(async (lab, ctx) => {
      await ctx.step('awaited', async () => undefined);
      void ctx.step('forgotten', () => lab.clock.sleep(60_000));
    });
    expect(result.outcome).toBe('failed');
    expect(result.error).toMatch(/ended while step "forgotten" still ran: await every ctx.step/);
    expect(result.steps.find((s) => s.name === 'forgotten')?.outcome).toBe('failed');
  });

  test.each([
    [
      'a cycle',
      () => ({ a: { b: {} as Record<string, unknown> } }),
      (e: Evidence) => ((e.a as any).b.back = e.a),
      /evidence\.a\.b\.back refers back .*cycle/,
    ],
    [
      'a BigInt',
      () => ({ list: [1, 2] as unknown[] }),
      (e: Evidence) => ((e.list as unknown[])[1] = 10n),
      /evidence\.list\[1\] is a BigInt/,
    ],
    [
      'a throwing toJSON',
      () => ({}),
      (e: Evidence) =>
        (e.t = {
          toJSON: () => {
            throw new Error('no');
          },
        }),
      /evidence\.t\.toJSON\(\) throws: no/,
    ],
    [
      '2 MB of it',
      () => ({}),
      (e: Evidence) => (e.big = 'x'.repeat(2_000_000)),
      /1\.9 MiB as JSON; a step may record at most 1 MiB/,
    ],
  ])('evidence with %s fails its step, and the report can still be written', async (_what, seed, spoil, message) => {
    const result = await runOnSim(async (_lab, ctx) => {
      await ctx.step('records evidence', async (evidence) => {
        Object.assign(evidence, seed());
        spoil(evidence);
      });
    });
    expect(result.outcome).toBe('failed');
    expect(result.steps[0]).toMatchObject({ outcome: 'failed', error: { class: 'error' } });
    expect(result.steps[0]!.error!.message).toMatch(message);
    expect(() => JSON.stringify(result)).not.toThrow();
  });
});

describe('code that never ends, and interrupts', () => {
  test('a step that never settles fails at the step deadline', async () => {
    const t = Date.now();
    const result = await runOnSim(
      async (_lab, ctx) => {
        await ctx.step('hangs', () => new Promise<void>(() => undefined));
      },
      { stepTimeoutMs: 1_000 },
    );
    expect(Date.now() - t).toBeLessThan(5_000);
    expect(result.outcome).toBe('failed');
    expect(result.steps[0]).toMatchObject({ name: 'hangs', outcome: 'failed', error: { class: 'timeout' } });
    expect(result.error).toMatch(/step "hangs" did not finish within 1s/);
  });

  test('code that never reaches its next step fails at the deadline too', async () => {
    const result = await runOnSim(
      async (_lab, ctx) => {
        await ctx.step('first', async () => undefined);
        await new Promise<void>(() => undefined);
      },
      { stepTimeoutMs: 1_000 },
    );
    expect(result.error).toMatch(/ran on after step "first" for 1s .* without beginning or ending a step/);
  });

  test('an abort ends a 150 s wait at once: the run returns, and the scenario code sees its wait end', async () => {
    const sim = await startLab({ backend: 'sim', seed: 'abort' });
    // Real time, as on every backend but the sim: the wait would really take 150 s.
    const lab = Object.assign(Object.create(sim) as Lab, { clock: realClock });
    const abort = new AbortController();
    let waitEnded: number | undefined;
    const running = runOnSim(
      async (_lab, ctx) => {
        await ctx.step('waits', async () => {
          setTimeout(() => abort.abort(new Error('the run got SIGINT')), 300);
          await ctx
            .wait('Godot', async () => undefined, { timeoutMs: 150_000 })
            .finally(() => (waitEnded = Date.now()));
        });
      },
      { signal: abort.signal },
      lab,
    );
    const result = await running;
    const aborted = Date.now();
    expect(result.outcome).toBe('failed');
    expect(result.steps[0]).toMatchObject({
      outcome: 'failed',
      error: { class: 'interrupted', message: 'interrupted: the run got SIGINT' },
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(waitEnded).toBeDefined();
    expect(waitEnded! - aborted).toBeLessThan(1_000);
  });

  test('an unhandled rejection from a scenario in this process fails it instead of ending the process', async () => {
    // vitest counts unhandled rejections as errors of the run; this test causes one on purpose.
    const theirs = process.listeners('unhandledRejection');
    process.removeAllListeners('unhandledRejection');
    try {
      const result = await runOnSim(async (lab, ctx) => {
        await ctx.step('leaks a rejection', async () => {
          void Promise.reject(new Error('nobody catches me'));
          await lab.clock.sleep(1_000);
          await new Promise((r) => setTimeout(r, 50));
        });
      });
      expect(result.outcome).toBe('failed');
      expect(result.error).toMatch(/unhandled promise rejection while it ran: nobody catches me/);
      expect(result.steps[0]).toMatchObject({ name: 'leaks a rejection', outcome: 'failed' });
    } finally {
      for (const listener of theirs) process.on('unhandledRejection', listener);
    }
  });
});

test('params beyond the run limits are refused before any lab starts', async () => {
  let started = 0;
  const factory = async () => {
    started++;
    return startLab({ backend: 'sim' });
  };
  const scenario: Scenario = { name: 'x', summary: 's', proves: 'p', tags: [], needs: {}, run: async () => undefined };
  await expect(runScenarios([scenario], factory, { params: { secrets: 1e9 } })).rejects.toThrow(
    /params\.secrets 1,000,000,000 is outside what kmslab run allows for Secrets per scenario: 1 to 5,000/,
  );
  await expect(runScenarios([scenario], factory, { parallel: 100 })).rejects.toThrow(/parallel 100 .* 1 to 16/);
  await expect(runScenarios([scenario], factory, { stepTimeoutMs: 10 })).rejects.toThrow(
    /stepTimeoutMs 10ms .* 1s to 1d/,
  );
  expect(started).toBe(0);
});
