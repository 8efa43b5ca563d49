import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, test } from 'vitest';
import { buildGoTool, goTools } from '../harness/binaries/go-tools.js';
import { labOptionsFor, startLab, type Lab, type LabApi, type StartLabOptions } from '../harness/index.js';
import { decodeKmsV2Value, encodeKmsV2Value } from '../sim/index.js';
import { SCENARIOS, runScenario, runScenarios, type RunReport, type ScenarioResult } from '../scenarios/index.js';
import { isolateHome, uniqueName } from './support/env.js';
import { sabotage } from './support/sabotage.js';

isolateHome();

// The scenarios that need a real apiserver for what the sim does not model: KMS v1 → v2 and migration by
// StorageVersionMigration (after a rotation, with the old key disabled, over plaintext) in CI, and the KEP-3926 recovery drills (with the
// AllowUnsafeMalformedObjectDeletion gate and without) on demand, since each restart on a destroyed key holds /livez
// ~85 s: `KMSLAB_RECOVERY=1 npx vitest run --project integration test/upstream-ways.int.test.ts` (about 6 min more).
// Each passes, and fails when its claim is false.
const RECOVERY = Boolean(process.env.KMSLAB_RECOVERY);
const NAMES = [
  'kms-v1-migration',
  'svm-rotate',
  'svm-key-disabled',
  'svm-enable-existing',
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
    const all = [
      'kms-v1-migration',
      'svm-rotate',
      'svm-key-disabled',
      'svm-enable-existing',
      'unsafe-delete',
      'unsafe-delete-gate-off',
    ];
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
  message?: RegExp;
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
  {
    scenario: 'svm-enable-existing',
    title: 'an apiserver that never takes the new config (the migration then moves nothing)',
    prepare: (lab) => sabotage(lab, { apiserver: () => ({ setEncryption: async () => undefined }) }),
    step: /^raw etcd: 100% of Secrets KMS v2/,
    message: /expected all \d+ values under \/registry\/secrets\/ to be KMS v2/,
  },
  {
    scenario: 'svm-rotate',
    title: 'another writer during the migration (the write counter no longer matches what migrated)',
    prepare: (lab) =>
      withApi(lab, {
        request: async (method, path, body, options) => {
          if (method === 'POST' && path.endsWith('/storageversionmigrations'))
            await lab.api.createSecret({ namespace: 'default', name: 'other-writer' }, { v: 'meanwhile' });
          return lab.api.request(method, path, body, options);
        },
      }),
    step: /^raw etcd: 100% of Secrets on key B after the migration/,
    message: /1 writes came from something else/,
  },
  // The metric checks upstream makes (metric-checks.ts), each broken on a real apiserver.
  {
    scenario: 'enable-new',
    title: 'an apiserver restart halfway through the 1,000 writes (two DEK seeds)',
    prepare: (lab) => restartAtWrite(lab, 'seed-reuse-500'),
    step: /^1000 more writes use one DEK seed/,
    message: /1000 writes are stored under 2 DEK seeds/,
  },
  {
    scenario: 'rotate',
    title: 'a rotation that keeps the key_id (no counter moves)',
    prepare: (lab) => sabotage(lab, { kms: { rotate: async () => ({ keyId: (await lab.kms.status()).keyId }) } }),
    step: /^migrate: rewrite/,
    message: /no write counted under the new key_id's hash/,
  },
  {
    scenario: 'rotate',
    title: 'a DEK seed in etcd that no apiserver reads (the cache size differs)',
    prepare: (lab) =>
      sabotage(lab, {
        apiserver: (a) => ({ restart: async (wait) => (await plantForeignSeed(lab), a.restart(wait)) }),
      }),
    step: /^restart every apiserver/,
    message: /DEK source cache holds \d+ after the restart, expected \d+/,
  },
];

/** withApi is a view of a lab whose API client has some calls replaced. */
function withApi(lab: Lab, overrides: Partial<LabApi>): Lab {
  const api = new Proxy(lab.api, {
    get: (t, p) => (overrides as Record<string | symbol, unknown>)[p] ?? Reflect.get(t, p),
  });
  return new Proxy(lab, { get: (t, p) => (p === 'api' ? api : Reflect.get(t, p)) });
}

/**
 * restartAtWrite restarts the first apiserver when the Secret `name` is about to be created: writes already sent
 * finish first, later ones wait for the restart, so none fails and the restarted apiserver wraps a new DEK seed.
 */
function restartAtWrite(lab: Lab, name: string): Lab {
  let inFlight = 0;
  let restarted: Promise<void> | undefined;
  return withApi(lab, {
    createSecret: async (ref, data, options) => {
      if (ref.name === name && !restarted)
        restarted = (async () => {
          while (inFlight > 0) await sleep(20);
          await lab.apiservers[0]!.restart();
        })();
      if (restarted) await restarted;
      inFlight++;
      try {
        return await lab.api.createSecret(ref, data, options);
      } finally {
        inFlight--;
      }
    },
  });
}

/** plantForeignSeed copies a stored KMS v2 value with another DEK source under /registry/, at a key no apiserver reads. */
async function plantForeignSeed(lab: Lab): Promise<void> {
  for await (const page of lab.etcd.scan('/registry/secrets/')) {
    for (const e of page.entries) {
      const { provider, object } = decodeKmsV2Value(e.value);
      object.encryptedDEKSource = randomBytes(32);
      await lab.etcd.put('/registry/kmslab-foreign/seed', encodeKmsV2Value(provider, object));
      return;
    }
  }
  throw new Error('no KMS v2 value in etcd to copy');
}

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
      if (c.message) expect(failed?.error?.message).toMatch(c.message);
    },
    300_000,
  );
});
