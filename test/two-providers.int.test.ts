import { describe, expect, test } from 'vitest';
import { labOptionsFor, startLab, type Lab } from '../harness/index.js';
import { SCENARIOS, runScenario, type ScenarioResult } from '../scenarios/index.js';
import { isolateHome, uniqueName } from './support/env.js';
import { sabotage } from './support/sabotage.js';

isolateHome();

// two-providers (Secrets under the lab's plugin, ConfigMaps under a second one run beside it) passes, and fails
// when the apiservers never take the two-provider config, or never really restart without the second plugin.
const scenario = SCENARIOS.find((s) => s.name === 'two-providers')!;

async function run(prepare = (lab: Lab) => lab): Promise<ScenarioResult> {
  const lab = await startLab({ name: uniqueName('two-prov'), ...labOptionsFor(scenario.needs) });
  try {
    return await runScenario(scenario, prepare(lab), { params: { secrets: 4, waitTimeoutMs: 30_000 } });
  } finally {
    await lab.close();
  }
}
const failed = (r: ScenarioResult) => r.steps.find((s) => s.outcome === 'failed');

describe('two KMS providers', () => {
  test('two-providers passes: a lost second plugin costs its ConfigMaps only', async () => {
    const r = await run();
    expect(failed(r)?.error?.message ?? r.error).toBeUndefined();
    expect(r.outcome).toBe('passed');
    const lost = r.steps.find((s) => s.name.startsWith('stop the second plugin'))!;
    expect(lost.evidence.body).toMatch(/kms-provider-1: /);
  }, 400_000);

  test('it fails when the apiservers never take the two-provider config', async () => {
    const r = await run((lab) => sabotage(lab, { apiserver: () => ({ setEncryption: async () => undefined }) }));
    expect(r.outcome).toBe('failed');
    expect(failed(r)?.name).toBe('raw etcd: each resource under its own provider and key_id');
  }, 300_000);

  test('it fails when the restart without the second plugin never happens', async () => {
    // Only the restart that waits for /livez (the one with the plugin gone); setEncryption's own restart goes on.
    const r = await run((lab) =>
      sabotage(lab, {
        apiserver: (a) => ({ restart: async (wait) => (wait === 'live' ? undefined : a.restart(wait)) }),
      }),
    );
    expect(r.outcome).toBe('failed');
    expect(failed(r)?.name).toMatch(/^restart without the second plugin/);
    expect(failed(r)?.error?.message).toMatch(/were still readable/);
  }, 300_000);
});
