import { classify, resourceOf, type Classified } from '../../sim/index.js';

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
  /** KMS v2 values per `<provider>` then per key_id. */
  byKeyId: Record<string, Record<string, number>>;
  errors: number;
}

/** toRow classifies one raw etcd entry. */
export function toRow(key: string, value: Buffer, modRevision: string): InspectRow {
  return { key, resource: resourceOf(key), bytes: value.length, modRevision, ...classify(value) };
}

/** Coverage accumulates rows into a summary in constant memory per resource and key_id (not per key). */
export class Coverage {
  readonly summary: CoverageSummary = { total: 0, byClass: {}, byResource: {}, byKeyId: {}, errors: 0 };

  add(row: InspectRow): void {
    const s = this.summary;
    s.total++;
    bump(s.byClass, row.class);
    const r = (s.byResource[row.resource] ??= { total: 0, byClass: {} });
    r.total++;
    bump(r.byClass, row.class);
    if (row.class === 'kms-v2' && row.kmsV2) bump((s.byKeyId[row.name ?? ''] ??= {}), row.kmsV2.keyId);
    if (row.error) s.errors++;
  }
}

function bump(record: Record<string, number>, key: string): void {
  record[key] = (record[key] ?? 0) + 1;
}
