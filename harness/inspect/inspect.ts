import { Coverage, toRow, type CoverageSummary, type InspectRow } from './coverage.js';
import { EtcdRange, type EtcdTls } from './etcd-range.js';
import { scanPrefix, type RangeSource } from './etcd-scan.js';

/** How long an endpoint may take to be up before its first call, by default (etcdctl's --dial-timeout). */
export const DIAL_TIMEOUT_MS = 2_000;

export interface InspectOptions {
  /** etcd client URL(s) (read through an `EtcdRange` of its own), or an open source. */
  etcd: string | string[] | RangeSource;
  tls?: EtcdTls;
  /** Deadline of each etcd call, ms (default 30 s). */
  timeoutMs?: number;
  /**
   * Deadline for each endpoint's connection to be up (TCP, TLS, etcd's first HTTP/2 frame) before its first call,
   * ms (default 2 s, as etcdctl's --dial-timeout). Only for URLs: an open source has dialled already.
   */
  dialTimeoutMs?: number;
  /** Key prefix to scan. Default `/registry/`. */
  prefix?: string;
  pageSize?: number;
  /**
   * Receives each row as it is read; rows are not kept otherwise, so 100k+ keys fit in little memory. `rawKey` is
   * the key's exact bytes (`row.key` is their UTF-8 reading), a view into the page: copy or encode it to keep it.
   */
  onRow?: (row: InspectRow, rawKey: Buffer) => void;
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
    typeof etcd === 'string' || Array.isArray(etcd)
      ? new EtcdRange(etcd, options.tls, options.timeoutMs, options.dialTimeoutMs ?? DIAL_TIMEOUT_MS)
      : undefined;
  const client = owned ?? (etcd as RangeSource);
  const coverage = new Coverage();
  let revision: string | undefined;
  try {
    for await (const page of scanPrefix(client, prefix, options.pageSize ? { pageSize: options.pageSize } : {})) {
      revision = page.revision;
      for (const entry of page.entries) {
        const row = toRow(entry.key, entry.value, entry.modRevision);
        coverage.add(row);
        options.onRow?.(row, entry.rawKey);
      }
    }
  } finally {
    owned?.close();
  }
  return { prefix, revision, summary: coverage.summary, seconds: (performance.now() - started) / 1000 };
}
