import { classify, resourceOf, type Classified } from '../../sim/envelope.js';

/** InspectRow is one etcd key as the inspector sees it. Values themselves are never kept or printed. */
export interface InspectRow extends Classified {
  key: string;
  resource: string;
  bytes: number;
  modRevision: string;
}

/** CoverageSummary counts how a set of keys is stored: overall, per resource, per KMS v2 provider and key_id. */
export interface CoverageSummary {
  total: number;
  byClass: Record<string, number>;
  byResource: Record<string, { total: number; byClass: Record<string, number> }>;
  /** Valid KMS v2 values per `<provider>` then per key_id. */
  byKeyId: Record<string, Record<string, number>>;
  /** Values the apiserver could not read (invalid) or that are neither objects nor encrypted (unknown). */
  errors: number;
}

/** toRow classifies one raw etcd entry. */
export function toRow(key: string, value: Buffer, modRevision: string): InspectRow {
  return { key, resource: resourceOf(key), bytes: value.length, modRevision, ...classify(value) };
}

type Counts = Map<string, number>;

/**
 * Coverage accumulates rows into a summary in constant memory per resource and key_id (not per key). Names come
 * from etcd (resource paths, key_ids), so they are Map keys, never plain-object keys: `__proto__` is a name like
 * any other.
 */
export class Coverage {
  private total = 0;
  private errors = 0;
  private readonly byClass: Counts = new Map();
  private readonly byResource = new Map<string, { total: number; byClass: Counts }>();
  private readonly byKeyId = new Map<string, Counts>();

  add(row: InspectRow): void {
    this.total++;
    bump(this.byClass, row.class);
    let r = this.byResource.get(row.resource);
    if (!r) this.byResource.set(row.resource, (r = { total: 0, byClass: new Map() }));
    r.total++;
    bump(r.byClass, row.class);
    if (row.class === 'kms-v2' && row.kmsV2) {
      const provider = row.name ?? '';
      let keys = this.byKeyId.get(provider);
      if (!keys) this.byKeyId.set(provider, (keys = new Map()));
      bump(keys, row.kmsV2.keyId);
    }
    if (row.error) this.errors++;
  }

  /**
   * merge adds the counts of a scan of the keys after this one's: names new to this one come after its own, in the
   * other's order, so merging disjoint ranges in key order gives what one scan of them all would.
   */
  merge(other: Coverage): void {
    this.total += other.total;
    this.errors += other.errors;
    addCounts(this.byClass, other.byClass);
    for (const [resource, r] of other.byResource) {
      const mine = this.byResource.get(resource);
      if (!mine) this.byResource.set(resource, { total: r.total, byClass: new Map(r.byClass) });
      else {
        mine.total += r.total;
        addCounts(mine.byClass, r.byClass);
      }
    }
    for (const [provider, keys] of other.byKeyId) {
      const mine = this.byKeyId.get(provider);
      if (!mine) this.byKeyId.set(provider, new Map(keys));
      else addCounts(mine, keys);
    }
  }

  /** summary is a plain-data snapshot (for JSON); its objects have no prototype, so any name is safe as a key. */
  get summary(): CoverageSummary {
    return {
      total: this.total,
      byClass: record(this.byClass),
      byResource: recordOf(this.byResource, (r) => ({ total: r.total, byClass: record(r.byClass) })),
      byKeyId: recordOf(this.byKeyId, record),
      errors: this.errors,
    };
  }
}

function bump(counts: Counts, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

function addCounts(into: Counts, from: Counts): void {
  for (const [key, n] of from) into.set(key, (into.get(key) ?? 0) + n);
}

function record(counts: Counts): Record<string, number> {
  return recordOf(counts, (n) => n);
}

function recordOf<V, T>(map: Map<string, V>, f: (v: V) => T): Record<string, T> {
  const out = Object.create(null) as Record<string, T>;
  for (const [k, v] of map) out[k] = f(v);
  return out;
}
