import { randomBytes } from 'node:crypto';
import { printable } from '../harness/common/printable.js';
import { getText, type ClusterApi } from './cluster-api.js';
import { encryptionMetrics, type EncryptionMetrics } from './encryption-metrics.js';
import { parsePrometheusText } from './prometheus-text.js';

/** CanaryFacts is what one canary Secret showed: how the apiserver stored it, and whether it came back intact. */
export interface CanaryFacts {
  namespace: string;
  /** The write's HTTP status; a failure keeps the apiserver's message. */
  created: boolean;
  error?: string;
  /** The prefixes the to_storage counter of `secrets` moved by around the write (one, unless others wrote too). */
  storedWith: Array<{ prefix: string; count: number }>;
  /** key_id hashes the write moved (to_storage), per provider. */
  keyIdHashes: Array<{ provider: string; keyIdHash: string; count: number }>;
  readBack: 'intact' | 'different' | 'failed' | 'not-tried';
  /** Both the Secret and its namespace were deleted (or the namespace is being deleted). */
  cleanedUp: boolean;
}

/**
 * runCanary writes one Secret in a namespace of its own, reads /metrics before and after to see which transformer
 * stored it, reads it back, and deletes both. The Secret's value is random and never reported.
 */
export async function runCanary(api: ClusterApi, options: { namespace?: string } = {}): Promise<CanaryFacts> {
  const namespace = options.namespace ?? `kmslab-verify-${randomBytes(4).toString('hex')}`;
  const value = randomBytes(24).toString('base64');
  const facts: CanaryFacts = {
    namespace,
    created: false,
    storedWith: [],
    keyIdHashes: [],
    readBack: 'not-tried',
    cleanedUp: false,
  };
  const ns = await api.request('POST', '/api/v1/namespaces', {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: namespace, labels: { 'app.kubernetes.io/managed-by': 'kmslab-verify' } },
  });
  if (ns.status !== 201) {
    facts.error = `creating namespace ${namespace}: HTTP ${ns.status} ${messageOf(ns.body)}`;
    return facts;
  }
  const secrets = `/api/v1/namespaces/${namespace}/secrets`;
  try {
    const before = await metricsNow(api);
    const created = await api.request('POST', secrets, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'canary' },
      data: { canary: Buffer.from(value).toString('base64') },
    });
    const after = await metricsNow(api);
    facts.created = created.status === 201;
    if (!facts.created) facts.error = `creating the canary Secret: HTTP ${created.status} ${messageOf(created.body)}`;
    facts.storedWith = delta(before, after);
    facts.keyIdHashes = keyDelta(before, after);
    if (facts.created) {
      const read = await api.request('GET', `${secrets}/canary`);
      if (read.status !== 200) {
        facts.readBack = 'failed';
        facts.error = `reading the canary back: HTTP ${read.status} ${messageOf(read.body)}`;
      } else {
        const data = (JSON.parse(read.body) as { data?: Record<string, string> }).data?.canary;
        facts.readBack = data && Buffer.from(data, 'base64').toString() === value ? 'intact' : 'different';
      }
    }
  } finally {
    const s = await api.request('DELETE', `${secrets}/canary`).catch(() => ({ status: 0 }));
    const n = await api.request('DELETE', `/api/v1/namespaces/${namespace}`).catch(() => ({ status: 0 }));
    facts.cleanedUp =
      (s.status === 200 || s.status === 404 || !facts.created) && (n.status === 200 || n.status === 202);
  }
  return facts;
}

async function metricsNow(api: ClusterApi): Promise<EncryptionMetrics> {
  const res = await getText(api, '/metrics');
  if (res.status !== 200) throw new Error(`GET /metrics: HTTP ${res.status}`);
  return encryptionMetrics(parsePrometheusText(res.body).samples);
}

function delta(before: EncryptionMetrics, after: EncryptionMetrics): CanaryFacts['storedWith'] {
  const count = (m: EncryptionMetrics, prefix: string) =>
    m.transformations
      .filter((t) => t.resource === 'secrets' && t.type === 'to_storage' && t.prefix === prefix)
      .reduce((n, t) => n + t.count, 0);
  const prefixes = new Set(
    after.transformations.filter((t) => t.resource === 'secrets' && t.type === 'to_storage').map((t) => t.prefix),
  );
  return [...prefixes]
    .map((prefix) => ({ prefix, count: count(after, prefix) - count(before, prefix) }))
    .filter((d) => d.count > 0);
}

function keyDelta(before: EncryptionMetrics, after: EncryptionMetrics): CanaryFacts['keyIdHashes'] {
  const key = (u: { provider: string; keyIdHash: string }) => `${u.provider}\0${u.keyIdHash}`;
  const sum = (m: EncryptionMetrics) => {
    const out = new Map<string, number>();
    for (const u of m.keyIdUses.filter((x) => x.type === 'to_storage'))
      out.set(key(u), (out.get(key(u)) ?? 0) + u.count);
    return out;
  };
  const b = sum(before);
  return [...sum(after)]
    .map(([k, n]) => {
      const [provider, keyIdHash] = k.split('\0') as [string, string];
      return { provider, keyIdHash, count: n - (b.get(k) ?? 0) };
    })
    .filter((d) => d.count > 0);
}

// The apiserver's Status message (its own text, escaped), or the start of the body.
function messageOf(body: string): string {
  try {
    return printable((JSON.parse(body) as { message?: string }).message ?? body, 300);
  } catch {
    return printable(body, 300);
  }
}
