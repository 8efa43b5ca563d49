import { beforeAll, describe, expect, test } from 'vitest';
import { labOptionsFor, startLab, type Lab, type LabApi } from '../harness/index.js';
import { lintEncryptionConfig, type UserEncryption } from '../harness/kube/encryption-config-lint.js';
import { SCENARIOS, runScenario, type ScenarioResult } from '../scenarios/index.js';
import type { CoverageSummary } from '../harness/inspect/index.js';
import { isolateHome, uniqueName } from './support/env.js';

isolateHome();

// Users' configs that encrypt more than Secrets, each resource with a provider name of its own. The endpoints are
// the users'; kmslab points them at the lab's plugin.
const config = (entries: Array<[string[], string]>) =>
  [
    'apiVersion: apiserver.config.k8s.io/v1',
    'kind: EncryptionConfiguration',
    'resources:',
    ...entries.flatMap(([resources, name]) => [
      `  - resources: [${resources.map((r) => `'${r}'`).join(', ')}]`,
      '    providers:',
      `      - kms: {apiVersion: v2, name: ${name}, endpoint: unix:///run/kms/${name}.sock}`,
      '      - identity: {}',
    ]),
  ].join('\n');

interface Case {
  title: string;
  yaml: string;
  /** Every resource the config encrypts, with the provider that must write it. */
  expect: Record<string, string>;
}

const APPS = ['deployments', 'replicasets', 'statefulsets', 'daemonsets', 'controllerrevisions'];

const CASES: Case[] = [
  {
    title: 'Secrets and ConfigMaps under one provider',
    yaml: config([[['secrets', 'configmaps'], 'vault-prod']]),
    expect: { secrets: 'vault-prod', configmaps: 'vault-prod' },
  },
  {
    title: 'a custom resource (kmslab makes its CRD)',
    yaml: config([
      [['secrets'], 'secrets-kms'],
      [['widgets.example.com'], 'widgets-kms'],
    ]),
    expect: { secrets: 'secrets-kms', 'widgets.example.com': 'widgets-kms' },
  },
  {
    title: 'a *.apps wildcard',
    yaml: config([
      [['secrets'], 'secrets-kms'],
      [['*.apps'], 'apps-kms'],
    ]),
    expect: { secrets: 'secrets-kms', ...Object.fromEntries(APPS.map((r) => [`${r}.apps`, 'apps-kms'])) },
  },
];

// The core scenarios that migrate, or disable a key around a migration.
const MIGRATING = ['rotate', 'enable-existing', 'key-disabled-before-migration'];

const lint = (yaml: string): UserEncryption => {
  const user = lintEncryptionConfig(yaml);
  expect(user.problems.filter((p) => p.level === 'error')).toEqual([]);
  return user;
};

const results = new Map<string, ScenarioResult>();
const params = { secrets: 4 };

// A migration that leaves one resource out (its PUTs quietly do nothing) must fail, naming that resource.
const SKIPPING = [
  { c: CASES[0]!, skip: /\/configmaps\//, resource: 'configmaps' },
  { c: CASES[2]!, skip: /\/deployments\//, resource: 'deployments.apps' },
];

// Every run in one pool, four labs at a time, so the long waits (reload poll, /livez hold) overlap.
beforeAll(async () => {
  const jobs: Array<{ key: string; c: Case; name: string; skip?: RegExp }> = [
    ...CASES.flatMap((c) => [
      ...MIGRATING.map((name) => ({ key: `${c.title}/${name}`, c, name })),
      ...(c === CASES[1] ? [{ key: `${c.title}/ha-rotation-rollout`, c, name: 'ha-rotation-rollout' }] : []),
    ]),
    ...SKIPPING.map(({ c, skip, resource }) => ({ key: `skip ${resource}`, c, name: 'rotate', skip })),
  ];
  // The longest first (the /livez hold, the reload poll), so the pool ends together.
  const LONGEST = ['key-disabled-before-migration', 'enable-existing', 'ha-rotation-rollout', 'rotate'];
  jobs.sort((a, b) => LONGEST.indexOf(a.name) - LONGEST.indexOf(b.name));
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const { key, c, name, skip } = jobs[next++]!;
      const scenario = SCENARIOS.find((s) => s.name === name)!;
      const lab = await startLab({
        name: uniqueName(name.slice(0, 10)),
        removeOnClose: true,
        ...labOptionsFor(scenario.needs, lint(c.yaml)),
      });
      try {
        const target = skip ? skipping(lab, skip) : lab;
        results.set(key, await runScenario(scenario, target, { params, artifactsDir: 'reports/artifacts' }));
      } finally {
        await lab.close();
      }
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
}, 900_000);

const onProvider = (s: CoverageSummary, provider: string) =>
  Object.values(s.byKeyId[provider] ?? {}).reduce((n, v) => n + v, 0) === s.total && s.total > 0;

describe.each(CASES)('a config that encrypts $title', (c) => {
  test.each(MIGRATING)('%s passes and proves every encrypted resource', (name) => {
    const r = results.get(`${c.title}/${name}`)!;
    const failed = r.steps.find((s) => s.outcome === 'failed');
    expect(failed?.error?.message ?? r.error, `${name} failed at ${failed?.name}`).toBeUndefined();
    expect(r.outcome).toBe('passed');
    // What the scenario found the config encrypts: exactly the expected resources, each with its provider.
    expect(r.steps[0]!.evidence.resources, r.steps[0]!.name).toEqual(c.expect);
    if (name === 'key-disabled-before-migration') {
      // Every resource on the disabled key fails to read with the decrypt error, not only Secrets.
      const step = r.steps.find((s) => s.name.includes('fail with the decrypt error'))!;
      const classes = step.evidence.readErrorClasses as Record<string, string>;
      for (const resource of Object.keys(c.expect)) expect(classes[resource], resource).toBe('kms-decrypt-failed');
      return;
    }
    // After the migration, raw etcd holds every resource 100% on its own provider.
    const proved = r.steps.filter((s) => Object.keys(s.evidence).some((k) => k.startsWith('stored ')));
    const last = proved.at(-1)!;
    for (const [resource, provider] of Object.entries(c.expect)) {
      const s = last.evidence[`stored ${resource}`] as CoverageSummary | undefined;
      expect(s, `${last.name}: ${resource}`).toBeDefined();
      expect(onProvider(s!, provider), `${resource}: ${JSON.stringify(s)}`).toBe(true);
    }
  });
});

test('ha-rotation-rollout moves every encrypted resource to the new providers', () => {
  const r = results.get(`${CASES[1]!.title}/ha-rotation-rollout`)!;
  const failed = r.steps.find((s) => s.outcome === 'failed');
  expect(failed?.error?.message ?? r.error, `failed at ${failed?.name}`).toBeUndefined();
  const last = r.steps.at(-1)!;
  for (const [resource, provider] of Object.entries(CASES[1]!.expect)) {
    expect(onProvider(last.evidence[`stored ${resource}`] as CoverageSummary, `${provider}-c`), resource).toBe(true);
  }
});

describe('a migration that skips one resource fails naming it', () => {
  test.each(SKIPPING)('rotate on $c.title, skipping $resource', ({ resource }) => {
    const r = results.get(`skip ${resource}`)!;
    const failed = r.steps.find((s) => s.outcome === 'failed');
    expect(r.outcome).toBe('failed');
    expect(failed?.name).toMatch(/^raw etcd: 100% of .* on key B$/);
    expect(failed?.error?.message).toMatch(new RegExp(`^${resource.replace('.', '\\.')}: expected all \\d+ values`));
  });
});

/** skipping is the lab with PUTs to paths matching `path` answered by a GET: the object is never written again. */
function skipping(lab: Lab, path: RegExp): Lab {
  const api: LabApi = Object.assign(Object.create(lab.api) as LabApi, {
    request: (method: string, p: string, body?: unknown) =>
      method === 'PUT' && path.test(p) ? lab.api.request('GET', p) : lab.api.request(method, p, body),
  });
  return new Proxy(lab, {
    get(target, prop) {
      if (prop === 'api') return api;
      const value = Reflect.get(target, prop);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
