import { Coverage, toRow, type CoverageSummary, type InspectRow } from './coverage.js';
import { EtcdRange, type EtcdTls } from './etcd-range.js';
import { scanPrefix, type RangeSource } from './etcd-scan.js';

export interface InspectOptions {
  /** etcd client URL(s) (read through an `EtcdRange` of its own), or an open source. */
  etcd: string | string[] | RangeSource;
  tls?: EtcdTls;
  /** Deadline of each etcd call, ms (default 30 s). */
  timeoutMs?: number;
  /** Key prefix to scan. Default `/registry/`. */
  prefix?: string;
  pageSize?: number;
  /** Receives each row as it is read; rows are not kept otherwise, so 100k+ keys fit in little memory. */
  onRow?: (row: InspectRow) => void;
}

export interface InspectReport {
  prefix: string;
  revision: string | undefined;
  summary: CoverageSummary;
  seconds: number;
}

/** inspectEtcd scans raw etcd under a prefix and reports how every value is stored. */
export async function inspectEtcd(options: InspectOptions): Promise<InspectReport> {
  const started = performance.now();
  const prefix = options.prefix ?? '/registry/';
  const etcd = options.etcd;
  const owned =
    typeof etcd === 'string' || Array.isArray(etcd) ? new EtcdRange(etcd, options.tls, options.timeoutMs) : undefined;
  const client = owned ?? (etcd as RangeSource);
  const coverage = new Coverage();
  let revision: string | undefined;
  try {
    for await (const page of scanPrefix(client, prefix, options.pageSize ? { pageSize: options.pageSize } : {})) {
      revision = page.revision;
      for (const entry of page.entries) {
        const row = toRow(entry.key, entry.value, entry.modRevision);
        coverage.add(row);
        options.onRow?.(row);
      }
    }
  } finally {
    owned?.close();
  }
  return { prefix, revision, summary: coverage.summary, seconds: (performance.now() - started) / 1000 };
}
