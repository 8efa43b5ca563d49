import { expect } from 'vitest';
import { labOptionsFor, startLab, type Lab, type StartLabOptions } from '../../harness/index.js';
import { SCENARIOS, runScenario, type ScenarioResult } from '../../scenarios/index.js';
import { uniqueName } from './env.js';
import { sabotage } from './sabotage.js';

/**
 * A way to make a scenario's claim false: a cluster configured wrongly, a plugin that lies, or an operation that
 * silently does nothing. Each scenario must then fail, at the named step, with the named error class.
 */
export interface NegativeCase {
  scenario: string;
  title: string;
  options?: Partial<StartLabOptions>;
  prepare?: (lab: Lab) => Promise<Lab> | Lab;
  step: string | RegExp;
  errorClass: string;
  message?: RegExp;
}

const noop = async () => undefined;
const fakeDisable = (lab: Lab) =>
  sabotage(lab, { kms: { disable: async () => lab.kms.status().then((s) => s.versions![0]!) } });

export const NEGATIVE_CASES: NegativeCase[] = [
  {
    scenario: 'enable-new',
    title: 'a cluster that lists identity first',
    options: {
      encryption: (socket, name) => [
        { resources: ['secrets'], providers: [{ identity: {} }, { kms: { name, socket } }] },
      ],
    },
    step: 'raw etcd: every Secret is KMS v2 with the current key_id',
    errorClass: 'assertion',
  },
  {
    scenario: 'enable-existing',
    title: 'a hot reload the apiserver rejects (plugin gone at reload time)',
    prepare: (lab) =>
      sabotage(lab, {
        apiserver: (a) => ({
          setEncryption: async (rules, how) => {
            await lab.kms.stopPlugin();
            await a.setEncryption(rules, how);
          },
        }),
      }),
    step: /^enable KMS v2/,
    errorClass: 'error',
    message: /rejected the new encryption config/,
  },
  {
    scenario: 'rotate',
    title: 'a plugin that never reports the new key_id',
    prepare: async (lab) => {
      await lab.kms.addFault({ kind: 'key-id', method: 'Status', value: (await lab.kms.status()).keyId });
      return lab;
    },
    step: 'every apiserver picks up key B; new writes carry it',
    errorClass: 'timeout',
  },
  {
    scenario: 'kms-outage',
    title: 'a plugin that does not really go away',
    prepare: (lab) => sabotage(lab, { kms: { stopPlugin: noop } }),
    step: '/healthz/kms-providers fails within seconds',
    errorClass: 'timeout',
  },
  {
    scenario: 'kms-outage-restart',
    title: 'a plugin that does not really go away',
    prepare: (lab) => sabotage(lab, { kms: { stopPlugin: noop } }),
    step: /^restart every apiserver while the plugin is down/,
    errorClass: 'assertion',
    message: /readyz is 200/,
  },
  {
    scenario: 'key-disabled',
    title: 'a key that is not really disabled',
    prepare: fakeDisable,
    step: '/healthz/kms-providers reports the disabled key',
    errorClass: 'timeout',
  },
  {
    scenario: 'key-disabled-before-migration',
    title: 'an old key that is not really disabled',
    prepare: fakeDisable,
    step: /^Secrets on A fail with the decrypt error/,
    errorClass: 'assertion',
    message: /still readable/,
  },
  {
    scenario: 'ha-rotation-rollout',
    title: 'a second apiserver that never takes a new config',
    prepare: (lab) =>
      sabotage(lab, { apiserver: (a) => (a === lab.apiservers[1] ? { setEncryption: async () => undefined } : {}) }),
    step: /^read-key-first: make .* the write provider/,
    errorClass: 'assertion',
    message: /reads failed during a read-key-first rollout/,
  },
  {
    scenario: 'ha-key-disabled',
    title: 'a key that is not really disabled',
    prepare: fakeDisable,
    step: /serves every Secret and writes; .* serves none$/,
    errorClass: 'assertion',
    message: /still readable/,
  },
  {
    scenario: 'disabled-key-writes-go-on',
    title: 'a plugin told to answer not ok whose Status fails anyway',
    prepare: (lab) => sabotage(lab, { kms: { setDisabledKeyStatus: () => lab.kms.setDisabledKeyStatus('fail-rpc') } }),
    step: /^health style not-ok-keep-key-id/,
    errorClass: 'assertion',
    message: /shows style fail-rpc/,
  },
  {
    scenario: 'disabled-key-writes-stop',
    title: 'a plugin told to fail Status that answers not ok with its key_id',
    prepare: (lab) =>
      sabotage(lab, { kms: { setDisabledKeyStatus: () => lab.kms.setDisabledKeyStatus('not-ok-keep-key-id') } }),
    step: /^health style fail-rpc/,
    errorClass: 'assertion',
    message: /shows style not-ok-keep-key-id/,
  },
  {
    scenario: 'ha-outage-restart',
    title: 'a plugin that does not really go away',
    prepare: (lab) => sabotage(lab, { kms: { stopPlugin: noop } }),
    step: 'stop the plugin and restart every apiserver',
    errorClass: 'assertion',
    message: /still readable/,
  },
];

/** runNegative runs one case on a fresh lab of the given backend; the lab is closed afterwards. */
export async function runNegative(c: NegativeCase, backend: 'local' | 'sim'): Promise<ScenarioResult> {
  const scenario = SCENARIOS.find((s) => s.name === c.scenario)!;
  const lab = await startLab({
    backend,
    name: uniqueName(`neg-${c.scenario.slice(0, 10)}`),
    seed: `negative-${c.scenario}`,
    ...labOptionsFor(scenario.needs),
    ...c.options,
  });
  try {
    const target = c.prepare ? await c.prepare(lab) : lab;
    return await runScenario(scenario, target, {
      params: { secrets: 4, waitTimeoutMs: 30_000 },
      artifactsDir: 'reports/artifacts',
    });
  } finally {
    await lab.close();
  }
}

export const failedStep = (r: ScenarioResult) => r.steps.find((s) => s.outcome === 'failed');

/** expectNegative runs one case on a fresh local lab: the scenario must fail at the case's step, for its reason. */
export async function expectNegative(c: NegativeCase): Promise<void> {
  const r = await runNegative(c, 'local');
  const failed = failedStep(r);
  expect(r.outcome).toBe('failed');
  expect(failed?.name).toMatch(c.step);
  expect(failed?.error?.class, failed?.error?.message).toBe(c.errorClass);
  if (c.message) expect(failed?.error?.message).toMatch(c.message);
}
