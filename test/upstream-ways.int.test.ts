import { beforeAll, describe, expect, test } from 'vitest';
import { buildGoTool, goTools } from '../harness/binaries/go-tools.js';
import { labOptionsFor, startLab, type Lab, type StartLabOptions } from '../harness/index.js';
import { SCENARIOS, runScenario, runScenarios, type RunReport, type ScenarioResult } from '../scenarios/index.js';
import { isolateHome, uniqueName } from './support/env.js';
import { sabotage } from './support/sabotage.js';

isolateHome();

// The scenarios that need a real apiserver for what the sim does not model: KMS v1 → v2 and migration by
// StorageVersionMigration (also with the old key disabled) in CI (about 4 min), and the KEP-3926 recovery drills (with the
// AllowUnsafeMalformedObjectDeletion gate and without) on demand, since each restart on a destroyed key holds /livez
// ~85 s: `KMSLAB_RECOVERY=1 npx vitest run --project integration test/upstream-ways.int.test.ts` (about 6 min more).
// Each passes, and fails when its claim is false.
const RECOVERY = Boolean(process.env.KMSLAB_RECOVERY);
const NAMES = [
  'kms-v1-migration',
  'svm-rotate',
  'svm-key-disabled',
  ...(RECOVERY ? ['unsafe-delete', 'unsafe-delete-gate-off'] : []),
];
const scenario = (name: string) => SCENARIOS.find((s) => s.name === name)!;
const params = { secrets: 4, waitTimeoutMs: 30_000 };

// On a machine that has never built kube-controller-manager (the README's test command on a fresh machine; CI builds
// it with the kind images first) the build alone takes minutes: it gets its own deadline, not the scenarios'.
beforeAll(async () => void (await buildGoTool(goTools.kubeNode)), 2_400_000);

let report: RunReport;
beforeAll(async () => {
  report = await runScenarios(
    NAMES.map(scenario),
    (s) => startLab({ name: uniqueName(s.name.slice(0, 12)), ...labOptionsFor(s.needs) }),
    { params, parallel: 2, artifactsDir: 'reports/artifacts' },
  );
}, 600_000);

describe('scenarios only a real apiserver runs', () => {
  test.each(NAMES)('%s passes on the local backend', (name) => {
    const r = report.scenarios.find((s) => s.name === name)!;
    const failed = r.steps.find((s) => s.outcome === 'failed');
    expect(failed?.error?.message ?? r.error, `${name} failed at ${failed?.name}`).toBeUndefined();
    expect(r.outcome).toBe('passed');
    expect(r.backend).toBe('local');
  });

  test('the sim skips them, saying why', async () => {
    const all = ['kms-v1-migration', 'svm-rotate', 'svm-key-disabled', 'unsafe-delete', 'unsafe-delete-gate-off'];
    const sim = await runScenarios(all.map(scenario), () => Promise.reject(new Error('no lab should start')), {
      backend: 'sim',
    });
    for (const r of sim.scenarios) {
      expect(r.outcome).toBe('skipped');
      expect(r.skipped).toMatch(/real kube-apiserver|local lab/);
    }
  });
});

interface Negative {
  scenario: string;
  title: string;
  options?: Partial<StartLabOptions>;
  prepare?: (lab: Lab) => Promise<Lab> | Lab;
  step: RegExp;
  errorClass?: string;
  /** A recovery drill: on demand only. */
  recovery?: true;
}

const NEGATIVES: Negative[] = [
  {
    scenario: 'unsafe-delete',
    title: 'a key that is not really destroyed',
    prepare: (lab) => sabotage(lab, { kms: { destroy: async (keyId) => ({ keyId }) } }),
    step: /^every GET answers 500/,
    recovery: true,
  },
  {
    scenario: 'unsafe-delete',
    title: 'an operator who may already do everything (cluster-admin)',
    prepare: async (lab) => {
      const r = await lab.api.request('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
        metadata: { name: 'operator-is-admin' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'kmslab-recovery-operator' }],
      });
      expect(r.status).toBe(201);
      return lab;
    },
    step: /^without the unsafe-delete-ignore-read-errors verb/,
    recovery: true,
  },
  {
    scenario: 'unsafe-delete-gate-off',
    title: 'an apiserver with the gate on after all',
    options: { featureGates: { AllowUnsafeMalformedObjectDeletion: true } },
    step: /^a GET answers 500 with the decryption error/,
    recovery: true,
  },
  {
    scenario: 'kms-v1-migration',
    title: 'a config that keeps KMS v1 first',
    prepare: (lab) =>
      sabotage(lab, {
        apiserver: (a) => ({
          setEncryption: (rules, how) =>
            a.setEncryption(
              rules.map((r) => ({ ...r, providers: [...r.providers.slice(0, 2).reverse(), ...r.providers.slice(2)] })),
              how,
            ),
        }),
      }),
    step: /^KMS v2 first, v1 kept to read/,
  },
  {
    scenario: 'svm-key-disabled',
    title: 'an old key that is not really disabled',
    prepare: (lab) => sabotage(lab, { kms: { disable: async () => lab.kms.status().then((s) => s.versions![0]!) } }),
    step: /^disable key A, then restart/,
  },
  {
    scenario: 'svm-rotate',
    title: 'a kube-controller-manager without the storage version migrator',
    options: { controllers: ['namespace-controller'] },
    step: /^a StorageVersionMigration for secrets succeeds/,
    errorClass: 'timeout',
  },
];

async function runNegative(c: Negative): Promise<ScenarioResult> {
  const s = scenario(c.scenario);
  const lab = await startLab({
    name: uniqueName(`neg-${c.scenario.slice(0, 10)}`),
    ...labOptionsFor(s.needs),
    ...c.options,
  });
  try {
    const target = c.prepare ? await c.prepare(lab) : lab;
    return await runScenario(s, target, { params, artifactsDir: 'reports/artifacts' });
  } finally {
    await lab.close();
  }
}

describe.concurrent('each fails when its claim is false', () => {
  test.each(
    NEGATIVES.filter((c) => RECOVERY || !c.recovery).map((c) => [`${c.scenario} fails on ${c.title}`, c] as const),
  )(
    '%s',
    async (_title, c) => {
      const r = await runNegative(c);
      const failed = r.steps.find((s) => s.outcome === 'failed');
      expect(r.outcome).toBe('failed');
      expect(failed?.name).toMatch(c.step);
      expect(failed?.error?.class, failed?.error?.message).toBe(c.errorClass ?? 'assertion');
    },
    300_000,
  );
});
