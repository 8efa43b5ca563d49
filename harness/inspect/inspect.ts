import { Coverage, toRow, type CoverageSummary, type InspectRow } from './coverage.js';
import { EtcdRange, type EtcdTls } from './etcd-range.js';
import { scanLanes, scanPrefix, type EtcdPage, type RangeSource } from './etcd-scan.js';

/** How long an endpoint may take to be up before its first call, by default (etcdctl's --dial-timeout). */
export const DIAL_TIMEOUT_MS = 2_000;

/**
 * Disjoint key ranges read at once by default: etcd serves a request of each while kmslab classifies what came,
 * and no range waits for the one before it. Measured at 1M values on 2 cores against one ordered scan: 2 lanes
 * 0.87×, 4 lanes 0.91× its time (4 split at a higher cost to etcd, and hold twice the pages in memory).
 */
export const LANES = 2;

/** RowSink receives the rows of one key range, in key order (see `InspectOptions.sink`). */
export interface RowSink {
  add(row: InspectRow, rawKey: Buffer): void;
}

export interface InspectOptions<S extends RowSink = RowSink> {
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
   * Receives each row as it is read, in key order (the keys are then read as one ordered scan, not in lanes); rows
   * are not kept otherwise, so 100k+ keys fit in little memory. `rawKey` is the key's exact bytes (`row.key` is
   * their UTF-8 reading), a view into the page: copy or encode it to keep it.
   */
  onRow?: (row: InspectRow, rawKey: Buffer) => void;
  /** Disjoint key ranges read at once (`scanLanes`). Default `LANES`, or 1 with `onRow`. */
  lanes?: number;
  /** Ranges of fewer keys are not split into lanes (default 25,000). */
  minLaneKeys?: number;
  /**
   * For reading in lanes: makes a row consumer for each key range, which gets that range's rows in key order (as
   * `onRow` does). The report lists them in key order of their ranges: merged in that order, they saw what one
   * `onRow` would have seen.
   */
  sink?: () => S;
}

export interface InspectReport {
  prefix: string;
  revision: string | undefined;
  summary: CoverageSummary;
  seconds: number;
}

/** inspectEtcd scans raw etcd under a prefix and reports how every value is stored. */
export async function inspectEtcd<S extends RowSink = RowSink>(
  options: InspectOptions<S>,
): Promise<InspectReport & { sinks: S[] }> {
  const started = performance.now();
  const prefix = options.prefix ?? '/registry/';
  const etcd = options.etcd;
  const owned =
    typeof etcd === 'string' || Array.isArray(etcd)
      ? new EtcdRange(etcd, options.tls, options.timeoutMs, options.dialTimeoutMs ?? DIAL_TIMEOUT_MS)
      : undefined;
  const client = owned ?? (etcd as RangeSource);
  const scan = options.pageSize ? { pageSize: options.pageSize } : {};
  const lanes = options.lanes ?? (options.onRow ? 1 : LANES);
  // Per lane, in key order of the lanes: what it counted and its consumer.
  const byLane: Array<{ coverage: Coverage; sink?: S }> = [];
  const laneOf = (lane: number) => (byLane[lane] ??= { coverage: new Coverage(), ...sinkOf(options) });
  let revision: string | undefined;
  const read = (lane: number, page: EtcdPage) => {
    revision = page.revision;
    const { coverage, sink } = laneOf(lane);
    for (const entry of page.entries) {
      const row = toRow(entry.key, entry.value, entry.modRevision);
      coverage.add(row);
      options.onRow?.(row, entry.rawKey);
      sink?.add(row, entry.rawKey);
    }
  };
  try {
    if (lanes > 1)
      for await (const page of scanLanes(client, prefix, {
        ...scan,
        lanes,
        ...(options.minLaneKeys ? { minLaneKeys: options.minLaneKeys } : {}),
      }))
        read(page.lane, page);
    else for await (const page of scanPrefix(client, prefix, scan)) read(0, page);
  } finally {
    owned?.close();
  }
  const used = byLane.filter(Boolean);
  const coverage = used[0]?.coverage ?? new Coverage();
  for (const lane of used.slice(1)) coverage.merge(lane.coverage);
  const sinks = used.flatMap((lane) => (lane.sink ? [lane.sink] : []));
  return { prefix, revision, summary: coverage.summary, seconds: (performance.now() - started) / 1000, sinks };
}

function sinkOf<S extends RowSink>(options: InspectOptions<S>): { sink?: S } {
  return options.sink ? { sink: options.sink() } : {};
}
