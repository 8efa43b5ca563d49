import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { encodeKmsV2Value, EncryptedDEKSourceType } from '../sim/envelope.js';
import type { RangeSource } from '../harness/inspect/index.js';
import { lintEncryptionConfig } from '../harness/kube/encryption-config-lint.js';
import { ClusterUnreadable, type ClusterApi } from './cluster-api.js';
import { parseConditions } from './conditions.js';
import { keyIdHash } from './judge-metrics.js';
import { verify } from './verify.js';

const KMS = 'k8s:enc:kms:v2:kmslab:';
type Line = [resource: string, type: 'to_storage' | 'from_storage', prefix: string, count: number, status?: string];

/** A /metrics body as kube-apiserver writes it, with the lines given. */
function metrics(
  lines: Line[],
  keyIds: Array<[type: string, keyId: string, count: number]> = [],
  cacheSize?: number,
): string {
  const out = ['# TYPE apiserver_storage_transformation_operations_total counter'];
  for (const [resource, type, prefix, count, status] of lines)
    out.push(
      `apiserver_storage_transformation_operations_total{resource="${resource}",status="${status ?? 'OK'}",transformation_type="${type}",transformer_prefix="${prefix}"} ${count}`,
    );
  for (const [type, keyId, count] of keyIds)
    out.push(
      `apiserver_envelope_encryption_key_id_hash_total{apiserver_id_hash="sha256:aa",key_id_hash="${keyIdHash(keyId)}",provider_name="kmslab",transformation_type="${type}"} ${count}`,
    );
  if (cacheSize !== undefined)
    out.push(`apiserver_envelope_encryption_dek_source_cache_size{provider_name="kmslab"} ${cacheSize}`);
  out.push('process_start_time_seconds 1.7e+09');
  return out.join('\n') + '\n';
}

function cluster(body: string, health: { status: number; body: string } = { status: 200, body: 'ok' }): ClusterApi {
  return {
    async request(_method, path) {
      if (path === '/metrics') return { status: 200, body };
      if (path === '/healthz/kms-providers') return health;
      if (path.startsWith('/readyz'))
        return {
          status: health.status === 200 ? 200 : 500,
          body: `[${health.status === 200 ? '+' : '-'}]kms-providers ${health.status === 200 ? 'ok' : 'failed: reason withheld'}\n`,
        };
      return { status: 404, body: '' };
    },
  };
}

const encrypted = metrics([
  ['secrets', 'from_storage', KMS, 20],
  ['secrets', 'to_storage', KMS, 3],
  ['configmaps', 'from_storage', 'identity', 9],
]);

describe('verify without etcd: the apiserver metrics and health', () => {
  test('every Secret read or written through KMS v2, healthy: the default gate passes, decided by metrics and health', async () => {
    const r = await verify({
      api: cluster(encrypted),
      conditions: parseConditions(['not-prefix=k8s:enc:kms:v2:', 'unhealthy']),
    });
    expect(r.results.map((x) => [x.condition, x.outcome, x.decidedBy])).toEqual([
      ['not-prefix=k8s:enc:kms:v2:', 'pass', 'metrics'],
      ['unhealthy', 'pass', 'health'],
    ]);
    expect(r.exitCode).toBe(0);
  });

  test('plaintext Secrets read since start fail plaintext and not-prefix, naming what was seen; other resources do not count', async () => {
    const body = metrics([
      ['secrets', 'from_storage', 'identity', 4],
      ['secrets', 'from_storage', KMS, 20],
    ]);
    const r = await verify({
      api: cluster(body),
      conditions: parseConditions(['plaintext', 'not-prefix=k8s:enc:kms:v2:', 'provider!=kmslab']),
    });
    expect(r.results.map((x) => x.outcome)).toEqual(['fail', 'fail', 'fail']);
    expect(r.results[0]!.decisions[0]!.reason).toMatch(/read 4 secrets stored as plaintext/);
    expect(r.exitCode).toBe(1);
    const cm = await verify({ api: cluster(encrypted), conditions: parseConditions(['plaintext']) });
    expect(cm.results[0]!.outcome).toBe('pass');
  });

  test('KMS v1, aescbc and another provider are told apart by prefix', async () => {
    const body = metrics([
      ['secrets', 'from_storage', 'k8s:enc:kms:v1:legacy:', 2],
      ['secrets', 'from_storage', 'k8s:enc:aescbc:v1:key1:', 1],
      ['secrets', 'to_storage', 'k8s:enc:kms:v2:other:', 1],
    ]);
    const r = await verify({
      api: cluster(body),
      conditions: parseConditions(['kms-v1', 'aescbc', 'aesgcm', 'secretbox', 'provider!=kmslab']),
    });
    expect(r.results.map((x) => x.outcome)).toEqual(['fail', 'fail', 'pass', 'pass', 'fail']);
  });

  test('nothing read or written since start: not decided (exit 3), never a pass', async () => {
    const r = await verify({
      api: cluster(metrics([['configmaps', 'from_storage', 'identity', 3]])),
      conditions: parseConditions(['plaintext']),
    });
    expect(r.results[0]!.outcome).toBe('undecided');
    expect(r.exitCode).toBe(3);
  });

  test('conditions only raw etcd decides are not decided without it, and say which sources could', async () => {
    const r = await verify({
      api: cluster(encrypted),
      conditions: parseConditions(['invalid', 'coverage:secrets<90', 'denied-calls', 'config']),
    });
    expect(r.results.map((x) => x.outcome)).toEqual(['undecided', 'undecided', 'undecided', 'undecided']);
    expect(r.results[2]!.decisions[0]!.reason).toMatch(/cloud-audit/);
    expect(r.results[3]!.decisions[0]!.reason).toMatch(/--config FILE/);
  });

  test('key_id conditions through the key_id hash metrics', async () => {
    const body = metrics(
      [['secrets', 'from_storage', KMS, 5]],
      [
        ['from_storage', 'key-1', 3],
        ['from_storage', 'key-2', 2],
        ['to_storage', 'key-2', 1],
      ],
      2,
    );
    const r = await verify({
      api: cluster(body),
      conditions: parseConditions([
        'not-key-id=key-2',
        'key-id=key-1',
        'key-id=key-9',
        'stale-seeds>0',
        'stale-seeds>1',
      ]),
    });
    expect(r.results.map((x) => x.outcome)).toEqual(['fail', 'fail', 'pass', 'fail', 'pass']);
    const done = metrics([['secrets', 'from_storage', KMS, 5]], [['from_storage', 'key-2', 5]]);
    expect(
      (await verify({ api: cluster(done), conditions: parseConditions(['not-key-id=key-2']) })).results[0]!.outcome,
    ).toBe('pass');
  });

  test('an unhealthy KMS check fails unhealthy with the apiserver text, escaped', async () => {
    const health = { status: 500, body: 'internal server error: kms-provider-0: failed to perform status\x1b[31m' };
    const r = await verify({ api: cluster(encrypted, health), conditions: parseConditions(['unhealthy']) });
    expect(r.results[0]!.outcome).toBe('fail');
    expect(r.results[0]!.decisions[0]!.reason).toContain('\\x1b[31m');
    expect(r.results[0]!.decisions[0]!.reason).toMatch(/readyz fails kms-providers/);
  });

  test('metrics refused by RBAC: the source is forbidden, with the ClusterRole it needs; conditions not decided', async () => {
    const api: ClusterApi = { request: async () => ({ status: 403, body: 'forbidden' }) };
    const r = await verify({ api, conditions: parseConditions(['plaintext', 'unhealthy']) });
    expect(r.sources.find((s) => s.source === 'metrics')).toMatchObject({ state: 'forbidden' });
    expect(r.sources.find((s) => s.source === 'metrics')!.detail).toMatch(/nonResourceURLs \/metrics/);
    expect(r.exitCode).toBe(3);
  });

  test('a cluster that cannot be reached throws ClusterUnreadable (the CLI exits 3)', async () => {
    const api: ClusterApi = { request: () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:1')) };
    await expect(verify({ api, conditions: parseConditions(['plaintext']) })).rejects.toBeInstanceOf(ClusterUnreadable);
  });
});

/** An in-memory etcd that pages as etcd does. */
function memoryEtcd(entries: Record<string, Buffer>): RangeSource {
  const keys = Object.keys(entries).sort();
  return {
    async range(r) {
      const from = Buffer.from(r.key).toString('latin1');
      const end = Buffer.from(r.rangeEnd).toString('latin1');
      const inRange = keys.filter((k) => k >= from && (end === '\0' || k < end));
      const page = r.limit > 0 ? inRange.slice(0, r.limit) : inRange;
      return {
        revision: 42n,
        more: page.length < inRange.length,
        count: inRange.length,
        kvs: page.map((k) => ({ key: Buffer.from(k, 'latin1'), value: entries[k]!, modRevision: '7' })),
      };
    },
  };
}

const v2 = (keyId: string, provider = 'kmslab') =>
  encodeKmsV2Value(provider, {
    encryptedData: Buffer.alloc(64, 1),
    keyID: keyId,
    encryptedDEKSource: Buffer.alloc(32, 2),
    annotations: {},
    encryptedDEKSourceType: EncryptedDEKSourceType.HKDF_SHA256_XNONCE_AES_GCM_SEED,
  });
const plain = Buffer.from('k8s\u0000\n\u000c\n\u0002v1\u0012\u0006Secret');

describe('verify with raw etcd', () => {
  const etcd = memoryEtcd({
    '/registry/secrets/a/one': v2('key-2'),
    '/registry/secrets/a/two': v2('key-1'),
    '/registry/secrets/a/three': plain,
    '/registry/configmaps/a/cm': plain,
  });

  test('etcd decides what is stored, value by value, and its answer stands over the metrics', async () => {
    const r = await verify({
      api: cluster(encrypted),
      etcd: { etcd },
      conditions: parseConditions(['plaintext', 'not-key-id=key-2', 'coverage:secrets<60', 'coverage:secrets<70']),
    });
    expect(r.results.map((x) => [x.outcome, x.decidedBy])).toEqual([
      ['fail', 'etcd'],
      ['fail', 'etcd'],
      ['pass', 'etcd'],
      ['fail', 'etcd'],
    ]);
    expect(r.results[0]!.decisions[0]!.offenders).toEqual(['/registry/secrets/a/three']);
    expect(r.results[0]!.decisions.find((d) => d.source === 'metrics')!.outcome).toBe('pass');
    expect(r.results[2]!.decisions[0]!.reason).toMatch(/2 of 3 secrets value\(s\) \(66.7%\)/);
  });

  test('--config: resources it encrypts that are stored otherwise are named; identity-only resources are no claim', async () => {
    const config = lintEncryptionConfig(
      `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets, configmaps]
    providers:
      - kms: {apiVersion: v2, name: kmslab, endpoint: unix:///k.sock}
      - identity: {}
  - resources: [leases.coordination.k8s.io]
    providers:
      - identity: {}
`,
      { forLab: false },
    );
    const r = await verify({ etcd: { etcd }, conditions: parseConditions(['config']), config });
    expect(r.results[0]!.outcome).toBe('fail');
    expect(r.results[0]!.decisions[0]!.offenders).toEqual([
      'secrets: the config writes it with KMS v2 provider kmslab (entry secrets), but 1 value(s) are stored as plaintext',
      'configmaps: the config writes it with KMS v2 provider kmslab (entry configmaps), but 1 value(s) are stored as plaintext',
    ]);
    // The same claims against the metrics: configmaps read as plaintext since start.
    const m = await verify({ api: cluster(encrypted), conditions: parseConditions(['config']), config });
    expect(m.results[0]!.decisions[0]!.offenders).toEqual([
      'configmaps: the config writes it with KMS v2 provider kmslab (entry configmaps), but 9 value(s) were read or written as plaintext',
    ]);
  });

  test('etcd that cannot be read: the source is unreadable and the run exits 3 unless something failed', async () => {
    const broken: RangeSource = { range: () => Promise.reject(new Error('14 UNAVAILABLE: no connection')) };
    const r = await verify({
      api: cluster(encrypted),
      etcd: { etcd: broken },
      conditions: parseConditions(['plaintext']),
    });
    expect(r.sources.find((s) => s.source === 'etcd')).toMatchObject({ state: 'unreadable' });
    expect(r.results[0]!.outcome).toBe('pass');
    expect(r.exitCode).toBe(3);
  });
});

describe('--fail-on', () => {
  test('every condition parses and a wrong one is a usage error naming the choices', () => {
    expect(
      parseConditions(['coverage:deployments.apps<99.5', 'stale-seeds>3', 'provider!=a', 'not-prefix=k8s:enc:']),
    ).toEqual([
      { kind: 'coverage', resource: 'deployments.apps', min: 99.5 },
      { kind: 'stale-seeds', max: 3 },
      { kind: 'provider-not', provider: 'a' },
      { kind: 'not-prefix', prefix: 'k8s:enc:' },
    ]);
    expect(parseConditions(['none'])).toEqual([]);
    expect(() => parseConditions(['coverage:secrets<0'])).toThrow(/above 0 and at most 100/);
    expect(() => parseConditions(['plain\x1btext'])).toThrow(/"plain\\x1btext" is not a condition; use plaintext/);
  });
});

describe('what a real kube-apiserver (v1.37.2) wrote', () => {
  const real = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
  const api = (body: string): ClusterApi => cluster(body);

  test('identity writes are labelled with an empty prefix, identity reads with "identity": both are plaintext', async () => {
    const r = await verify({
      api: api(real('metrics-v1.37.2-reloaded.txt')),
      conditions: parseConditions(['plaintext', 'kms-v1']),
    });
    expect(r.results[0]!.decisions[0]!.reason).toMatch(
      /read 4 secrets stored as plaintext; wrote 3 secrets stored as plaintext/,
    );
    expect(r.results.map((x) => x.outcome)).toEqual(['fail', 'pass']);
  });

  test('after a restart the watch cache has read every stored Secret: 3 plaintext, 2 on KMS v2, one seed cached', async () => {
    const r = await verify({
      api: api(real('metrics-v1.37.2-restarted.txt')),
      conditions: parseConditions(['plaintext', 'stale-seeds>0', 'stale-seeds>1']),
    });
    expect(r.results[0]!.decisions[0]!.reason).toMatch(/read 3 secrets stored as plaintext/);
    expect(r.results.map((x) => x.outcome)).toEqual(['fail', 'fail', 'pass']);
  });

  test('Secrets no encryption entry covers: stored, never transformed — plaintext', async () => {
    const body =
      'apiserver_storage_objects{resource="secrets"} 12\napiserver_resource_objects{group="",resource="secrets"} 12\n';
    const r = await verify({
      api: api(body),
      conditions: parseConditions(['plaintext', 'not-prefix=k8s:enc:kms:v2:', 'kms-v1']),
    });
    expect(r.results.map((x) => x.outcome)).toEqual(['fail', 'fail', 'undecided']);
    expect(r.results[0]!.decisions[0]!.reason).toMatch(
      /12 secrets stored.*no EncryptionConfiguration entry covers secrets/,
    );
    const none = 'apiserver_resource_objects{group="",resource="secrets"} 0\n';
    expect((await verify({ api: api(none), conditions: parseConditions(['plaintext']) })).results[0]!.outcome).toBe(
      'undecided',
    );
  });
});
