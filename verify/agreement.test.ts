import fc from 'fast-check';
import { expect, test } from 'vitest';
import type { RangeSource } from '../harness/inspect/index.js';
import { encodeKmsV2Value, EncryptedDEKSourceType } from '../sim/envelope.js';
import type { ClusterApi } from './cluster-api.js';
import { parseConditions } from './conditions.js';
import { verify } from './verify.js';

// The rule the lab test checks on a few states, over any mix of stored values: once an apiserver has read every
// stored value (its watch cache does at start), its transformation counters give raw etcd's verdict on every
// per-value condition they can decide.
const WAYS = {
  plain: { prefix: 'identity', bytes: () => Buffer.from('k8s\u0000\n\u0002v1') },
  kmsA: { prefix: 'k8s:enc:kms:v2:a:', bytes: () => v2('a') },
  kmsB: { prefix: 'k8s:enc:kms:v2:b:', bytes: () => v2('b') },
  v1: {
    prefix: 'k8s:enc:kms:v1:old:',
    bytes: () => Buffer.concat([Buffer.from('k8s:enc:kms:v1:old:'), Buffer.from([0, 8]), Buffer.alloc(8 + 40, 1)]),
  },
  cbc: {
    prefix: 'k8s:enc:aescbc:v1:k1:',
    bytes: () => Buffer.concat([Buffer.from('k8s:enc:aescbc:v1:k1:'), Buffer.alloc(48, 2)]),
  },
  gcm: {
    prefix: 'k8s:enc:aesgcm:v1:k1:',
    bytes: () => Buffer.concat([Buffer.from('k8s:enc:aesgcm:v1:k1:'), Buffer.alloc(40, 3)]),
  },
  box: {
    prefix: 'k8s:enc:secretbox:v1:k1:',
    bytes: () => Buffer.concat([Buffer.from('k8s:enc:secretbox:v1:k1:'), Buffer.alloc(56, 4)]),
  },
  odd: { prefix: 'unknown', bytes: () => Buffer.from('\u0000not an object') },
};
type Way = keyof typeof WAYS;

function v2(provider: string): Buffer {
  return encodeKmsV2Value(provider, {
    encryptedData: Buffer.alloc(64, 1),
    keyID: 'k',
    encryptedDEKSource: Buffer.alloc(32, 2),
    annotations: {},
    encryptedDEKSourceType: EncryptedDEKSourceType.HKDF_SHA256_XNONCE_AES_GCM_SEED,
  });
}

const CONDITIONS = [
  'plaintext',
  'unknown',
  'kms-v1',
  'aescbc',
  'aesgcm',
  'secretbox',
  'provider!=a',
  'not-prefix=k8s:enc:kms:v2:',
  'not-prefix=k8s:enc:',
  'coverage:secrets<100',
];

test('metrics after a full read agree with raw etcd on every per-value condition (property)', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.constantFrom(...(Object.keys(WAYS) as Way[])), { minLength: 1, maxLength: 12 }),
      async (ways) => {
        const entries = new Map(
          ways.map((w, i) => [`/registry/secrets/ns/s${String(i).padStart(3, '0')}`, WAYS[w].bytes()]),
        );
        const keys = [...entries.keys()].sort();
        const etcd: RangeSource = {
          async range(r) {
            const from = Buffer.from(r.key).toString('latin1');
            const end = Buffer.from(r.rangeEnd).toString('latin1');
            const hit = keys.filter((k) => k >= from && k < end);
            const page = r.limit > 0 ? hit.slice(0, r.limit) : hit;
            return {
              revision: 1n,
              more: page.length < hit.length,
              count: hit.length,
              kvs: page.map((k) => ({ key: Buffer.from(k), value: entries.get(k)!, modRevision: '1' })),
            };
          },
        };
        const counts = new Map<string, number>();
        for (const w of ways) counts.set(WAYS[w].prefix, (counts.get(WAYS[w].prefix) ?? 0) + 1);
        const body = [...counts]
          .map(
            ([p, n]) =>
              `apiserver_storage_transformation_operations_total{resource="secrets",status="OK",transformation_type="from_storage",transformer_prefix="${p}"} ${n}`,
          )
          .join('\n');
        const api: ClusterApi = {
          request: async (_m, path) => (path === '/metrics' ? { status: 200, body } : { status: 200, body: 'ok' }),
        };
        const conditions = parseConditions(CONDITIONS);
        const live = await verify({ api, conditions });
        const truth = await verify({ etcd: { etcd }, conditions });
        expect(live.results.map((r) => [r.condition, r.outcome])).toEqual(
          truth.results.map((r) => [r.condition, r.outcome]),
        );
      },
    ),
    { numRuns: 60 },
  );
});
