import { afterAll, describe, expect, test } from 'vitest';
import { LocalLab, labOptionsFor, type Lab, type LocalLabOptions } from '../harness/index.js';
import { SCENARIOS, runScenario, type Scenario, type ScenarioResult } from '../scenarios/index.js';
import { isolateHome, uniqueName } from './support/env.js';
import { sabotage } from './support/sabotage.js';

isolateHome();

// Each scenario must fail when its claim is false. The labs are real; what is wrong is the cluster's config,
// the plugin's behaviour, or an operation that silently does nothing.
const scenario = (name: string): Scenario => SCENARIOS.find((s) => s.name === name)!;
const labs: Lab[] = [];
afterAll(() => Promise.all(labs.map((l) => l.close())));

async function runBroken(
  name: string,
  prepare: (lab: LocalLab) => Promise<Lab> | Lab,
  options: Partial<LocalLabOptions> = {},
  waitTimeoutMs = 30_000,
): Promise<ScenarioResult> {
  const s = scenario(name);
  const lab = await LocalLab.start({
    name: uniqueName(`neg-${name.slice(0, 10)}`),
    ...labOptionsFor(s.needs),
    ...options,
  });
  labs.push(lab);
  return runScenario(s, await prepare(lab), {
    params: { secrets: 4, waitTimeoutMs },
    artifactsDir: 'reports/artifacts',
  });
}

const failedStep = (r: ScenarioResult) => r.steps.find((s) => s.outcome === 'failed');
const noop = async () => undefined;

describe.concurrent('each scenario fails when its claim is false', () => {
  test('enable-new fails on a cluster that lists identity first', async () => {
    const r = await runBroken('enable-new', (lab) => lab, {
      encryption: (socket, name) => [
        { resources: ['secrets'], providers: [{ identity: {} }, { kms: { name, socket } }] },
      ],
    });
    expect(r.outcome).toBe('failed');
    expect(failedStep(r)?.name).toBe('raw etcd: every Secret is KMS v2 with the current key_id');
    expect(failedStep(r)?.error?.class).toBe('assertion');
  });

  test('enable-existing fails when the hot reload is rejected (plugin gone at reload time)', async () => {
    const r = await runBroken('enable-existing', (lab) =>
      sabotage(lab, {
        apiserver: (a) => ({
          setEncryption: async (rules, how) => {
            await lab.kms.stopPlugin();
            await a.setEncryption(rules, how);
          },
        }),
      }),
    );
    expect(r.outcome).toBe('failed');
    expect(failedStep(r)?.name).toMatch(/^enable KMS v2/);
    expect(failedStep(r)?.error?.message).toMatch(/rejected the new encryption config/);
    // Seen as a rejection when it happens (about a minute, the file poll), not as a timeout at the end.
    expect(failedStep(r)!.durationMs).toBeLessThan(150_000);
  });

  test('rotate fails when the plugin never reports the new key_id', async () => {
    const r = await runBroken('rotate', async (lab) => {
      await lab.kms.addFault({ kind: 'key-id', method: 'Status', value: (await lab.kms.status()).keyId });
      return lab;
    });
    expect(failedStep(r)?.name).toBe('every apiserver picks up key B; new writes carry it');
    expect(failedStep(r)?.error?.class).toBe('timeout');
  });

  test('kms-outage fails when the plugin does not really go away', async () => {
    const r = await runBroken('kms-outage', (lab) => sabotage(lab, { kms: { stopPlugin: noop } }));
    expect(failedStep(r)?.name).toBe('/healthz/kms-providers fails within seconds');
    expect(failedStep(r)?.error?.class).toBe('timeout');
  });

  test('kms-outage-restart fails when the plugin does not really go away', async () => {
    const r = await runBroken('kms-outage-restart', (lab) => sabotage(lab, { kms: { stopPlugin: noop } }));
    expect(failedStep(r)?.name).toMatch(/^restart every apiserver while the plugin is down/);
    expect(failedStep(r)?.error?.message).toMatch(/readyz is 200/);
  });

  test('key-disabled fails when the key is not really disabled', async () => {
    const r = await runBroken('key-disabled', (lab) =>
      sabotage(lab, {
        kms: { disable: async () => lab.kms.status().then((s) => s.versions[0]!) },
      }),
    );
    expect(failedStep(r)?.name).toBe('/healthz/kms-providers reports the disabled key');
    expect(failedStep(r)?.error?.class).toBe('timeout');
  });

  test('key-disabled-before-migration fails when the old key is not really disabled', async () => {
    const r = await runBroken('key-disabled-before-migration', (lab) =>
      sabotage(lab, { kms: { disable: async () => lab.kms.status().then((s) => s.versions[0]!) } }),
    );
    expect(failedStep(r)?.name).toMatch(/^Secrets on A fail with the decrypt error/);
    expect(failedStep(r)?.error?.message).toMatch(/still readable/);
  });
});
