import { printable } from '../harness/common/printable.js';
// The inspector itself, not the inspect index (which loads the etcd3 client): verify's start-up budget.
import { inspectEtcd } from '../harness/inspect/inspect.js';
import type { InspectRow } from '../harness/inspect/coverage.js';
import type { EtcdTls } from '../harness/inspect/etcd-range.js';
import type { RangeSource } from '../harness/inspect/etcd-scan.js';
import { describeCondition, isValueCondition, meetsValue, type Condition, type ValueCondition } from './conditions.js';
import type { StoredAs } from './stored-as.js';

/** Where verify reads raw etcd: URLs and TLS as `kmslab inspect` takes them, or an open source (tests, labs). */
export interface EtcdTarget {
  etcd: string[] | RangeSource;
  tls?: EtcdTls;
  timeoutMs?: number;
  dialTimeoutMs?: number;
}

/** How the values under one etcd prefix are stored, counted by way of storing. */
export interface EtcdResource {
  resource: string;
  prefix: string;
  total: number;
  stored: Array<StoredAs & { count: number }>;
}

/** EtcdFacts: per resource, how its values are stored; per value condition, how many meet it and the first keys. */
export interface EtcdFacts {
  revision?: string;
  resources: EtcdResource[];
  offending: Record<string, { count: number; keys: string[] }>;
}

const KEPT_KEYS = 5;

/** readEtcd scans each prefix once (read-only) and tallies it against the value conditions. */
export async function readEtcd(
  target: EtcdTarget,
  prefixes: Array<{ resource: string; prefix: string }>,
  conditions: Condition[],
): Promise<EtcdFacts> {
  const valueConditions = conditions.filter(isValueCondition);
  const offending = Object.create(null) as EtcdFacts['offending'];
  for (const c of valueConditions) offending[describeCondition(c)] = { count: 0, keys: [] };
  const facts: EtcdFacts = { resources: [], offending };
  for (const { resource, prefix } of prefixes) {
    const counts = new Map<string, StoredAs & { count: number }>();
    const report = await inspectEtcd({
      etcd: target.etcd,
      prefix,
      ...(target.tls ? { tls: target.tls } : {}),
      ...(target.timeoutMs ? { timeoutMs: target.timeoutMs } : {}),
      ...(target.dialTimeoutMs ? { dialTimeoutMs: target.dialTimeoutMs } : {}),
      onRow: (row, rawKey) => {
        const s = storedAsRow(row);
        const id = `${s.class}\0${s.name ?? ''}\0${s.kmsV2?.keyId ?? ''}`;
        const entry = counts.get(id) ?? { ...s, count: 0 };
        entry.count++;
        counts.set(id, entry);
        for (const c of valueConditions) tally(offending[describeCondition(c)]!, s, c, rawKey);
      },
    });
    if (report.revision) facts.revision = report.revision;
    facts.resources.push({ resource, prefix, total: report.summary.total, stored: [...counts.values()] });
  }
  return facts;
}

function tally(t: { count: number; keys: string[] }, s: StoredAs, c: ValueCondition, rawKey: Buffer): void {
  if (!meetsValue(s, c)) return;
  t.count++;
  if (t.keys.length < KEPT_KEYS) t.keys.push(printable(rawKey, 200));
}

/** storedAsRow: an inspected value as StoredAs (an invalid one keeps the class `invalid`). */
export function storedAsRow(row: InspectRow): StoredAs {
  return {
    class: row.class,
    ...(row.name !== undefined ? { name: row.name } : {}),
    ...(row.kmsV2 ? { kmsV2: { keyId: row.kmsV2.keyId } } : {}),
  };
}
