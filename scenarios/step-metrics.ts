import type { Lab } from '../harness/lab.js';
import { encryptionMetrics, parsePrometheusText, type EncryptionMetrics } from '../verify/index.js';

/**
 * The metric families a step's evidence carries: transformations by prefix and outcome, key_id hash uses and the
 * last Status key_id, the DEK source cache, and the process start (counters start over when the process does).
 */
const FAMILIES = [
  'apiserver_storage_transformation_operations_total',
  'apiserver_envelope_encryption_key_id_hash_total',
  'apiserver_envelope_encryption_key_id_hash_status_last_timestamp_seconds',
  'apiserver_envelope_encryption_dek_source_cache_size',
  'process_start_time_seconds',
];

/** ApiserverMetrics is one apiserver's encryption metrics at a moment, or why they could not be read. */
export type ApiserverMetrics = { ok: true; metrics: EncryptionMetrics } | { ok: false; unavailable: string };

/** A scrape of every apiserver of a lab, by name. */
export type MetricsScrape = Record<string, ApiserverMetrics>;

/**
 * scrapeMetrics reads each running apiserver's /metrics. Only the lines of FAMILIES are parsed (the body is
 * hundreds of KiB): the scrape costs one GET per apiserver and a line filter.
 */
export async function scrapeMetrics(lab: Lab): Promise<MetricsScrape> {
  const out: MetricsScrape = {};
  await Promise.all(
    lab.apiservers.map(async (a) => {
      if (!a.running) {
        out[a.name] = { ok: false, unavailable: 'not running' };
        return;
      }
      try {
        const r = await a.api.request('GET', '/metrics');
        if (r.status !== 200) {
          out[a.name] = { ok: false, unavailable: `/metrics answered ${r.status}` };
          return;
        }
        const wanted = r.body
          .split('\n')
          .filter((line) => FAMILIES.some((f) => line.startsWith(f)))
          .join('\n');
        out[a.name] = { ok: true, metrics: encryptionMetrics(parsePrometheusText(wanted).samples) };
      } catch (error) {
        out[a.name] = { ok: false, unavailable: `/metrics unreadable: ${(error as Error)?.message ?? error}` };
      }
    }),
  );
  return out;
}

/** What one apiserver's metrics did during a step: counters as deltas, gauges as they ended. */
export interface MetricsDelta {
  /** The process started anew during the step: counters count from its start, not from the step's. */
  restarted?: true;
  /** `<type> <prefix> <status>` (summed over resources) → values transformed during the step. */
  transformations: Record<string, number>;
  /** `<type> <key_id hash>` → values written or read with that key_id during the step. */
  keyIdHashes: Record<string, number>;
  /** Per provider: DEK sources in the decrypt cache before and after the step. */
  dekSourceCacheSize: Record<string, { before?: number; after: number }>;
  /** Per provider: the key_id hash of the last Status the apiserver accepted a key_id from, when the step ended. */
  statusKeyIdHash: Record<string, string>;
}

/** Per apiserver: the step's delta, or why there is none. Plain data, for the step's evidence. */
export type StepMetrics = Record<string, MetricsDelta | { unavailable: string }>;

/** metricsDelta compares two scrapes of the same lab (before and after a step). */
export function metricsDelta(before: MetricsScrape, after: MetricsScrape): StepMetrics {
  const out: StepMetrics = {};
  for (const [name, now] of Object.entries(after)) {
    if (!now.ok) {
      out[name] = { unavailable: now.unavailable };
      continue;
    }
    const then = before[name];
    const was = then?.ok && then.metrics.startedSeconds === now.metrics.startedSeconds ? then.metrics : undefined;
    out[name] = deltaOf(was, now.metrics);
  }
  return out;
}

function deltaOf(was: EncryptionMetrics | undefined, now: EncryptionMetrics): MetricsDelta {
  const transformations = subtract(sumBy(now.transformations, tKey), was && sumBy(was.transformations, tKey));
  const keyIdHashes = subtract(sumBy(now.keyIdUses, kKey), was && sumBy(was.keyIdUses, kKey));
  const dekSourceCacheSize: MetricsDelta['dekSourceCacheSize'] = {};
  for (const c of now.dekSourceCacheSize) {
    const before = was?.dekSourceCacheSize.find((b) => b.provider === c.provider)?.size;
    dekSourceCacheSize[c.provider] = { ...(before === undefined ? {} : { before }), after: c.size };
  }
  const statusKeyIdHash: Record<string, string> = {};
  for (const s of [...now.statusKeyIds].sort((a, b) => a.lastSeconds - b.lastSeconds)) {
    statusKeyIdHash[s.provider] = s.keyIdHash;
  }
  return {
    ...(was ? {} : { restarted: true as const }),
    transformations,
    keyIdHashes,
    dekSourceCacheSize,
    statusKeyIdHash,
  };
}

const tKey = (t: EncryptionMetrics['transformations'][number]) =>
  [`${t.type} ${t.prefix} ${t.status}`, t.count] as const;
const kKey = (k: EncryptionMetrics['keyIdUses'][number]) => [`${k.type} ${k.keyIdHash}`, k.count] as const;

function sumBy<T>(rows: T[], key: (row: T) => readonly [string, number]): Map<string, number> {
  const m = new Map<string, number>();
  for (const row of rows) {
    const [k, n] = key(row);
    m.set(k, (m.get(k) ?? 0) + n);
  }
  return m;
}

// Counters that moved, by how much; a counter absent before counts from zero.
function subtract(now: Map<string, number>, was: Map<string, number> | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, n] of [...now].sort(([a], [b]) => a.localeCompare(b))) {
    const d = n - (was?.get(k) ?? 0);
    if (d !== 0) out[k] = d;
  }
  return out;
}
