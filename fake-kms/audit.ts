import { appendFileSync, closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import type { KmsMethod } from './faults.js';

/**
 * AuditRecord is one KMS call, as a cloud audit log would show it. It never holds plaintext, DEK seeds or
 * key material: only ids, sizes, outcome and timing.
 */
export interface AuditRecord {
  /** Position in this trail (1, 2, …): "what happened after X" without trusting clock resolution. */
  seq: number;
  time: string;
  method: KmsMethod;
  uid: string;
  keyId: string;
  code: string;
  latencyMs: number;
  requestBytes: number;
  responseBytes: number;
  faults: string[];
  message?: string;
}

export interface AuditQuery {
  /** Only records after this seq. */
  afterSeq?: number;
  since?: string | Date;
  until?: string | Date;
  method?: KmsMethod;
  code?: string;
  limit?: number;
}

const LATENCY_BUCKETS_S = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 3, 10];

/**
 * AuditTrail appends each record to a JSONL file (0600) and keeps the newest ones in memory for queries,
 * with per-method counters and a latency histogram for Prometheus.
 */
export class AuditTrail {
  // A ring of the newest records: constant cost per call however long the plugin runs.
  private readonly recent: AuditRecord[] = [];
  private head = 0;
  private readonly calls = new Map<string, number>();
  private readonly histograms = new Map<KmsMethod, { buckets: number[]; sum: number; count: number }>();
  // Written with one write(2) per record: a plugin killed with SIGKILL loses nothing already answered, so
  // sequence numbers never repeat after a restart.
  private fd: number | undefined;

  constructor(options: { file?: string; keep?: number } = {}) {
    this.keep = options.keep ?? 20_000;
    if (options.file) this.resume(options.file);
    this.fd = options.file ? openSync(options.file, 'a', 0o600) : undefined;
  }

  // A plugin restarted on the same files continues its trail: earlier records stay queryable and seq keeps rising.
  // A line cut short by a kill -9 is skipped.
  private resume(file: string): void {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return;
    }
    // End a torn last line, so the next record starts on a line of its own.
    if (text.length > 0 && !text.endsWith('\n')) appendFileSync(file, '\n');
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        const entry = JSON.parse(line) as AuditRecord;
        if (typeof entry.seq === 'number') this.remember(entry);
      } catch {
        // torn write at the end of the file
      }
    }
  }

  private readonly keep: number;

  private lastSeq = 0;

  record(fields: Omit<AuditRecord, 'seq'>): void {
    const entry: AuditRecord = { seq: this.lastSeq + 1, ...fields };
    this.remember(entry);
    if (this.fd !== undefined) writeSync(this.fd, JSON.stringify(entry) + '\n');
  }

  private remember(entry: AuditRecord): void {
    this.lastSeq = entry.seq;
    if (this.recent.length < this.keep) this.recent.push(entry);
    else {
      this.recent[this.head] = entry;
      this.head = (this.head + 1) % this.keep;
    }
    const key = `${entry.method}\u0000${entry.code}`;
    this.calls.set(key, (this.calls.get(key) ?? 0) + 1);
    let h = this.histograms.get(entry.method);
    if (!h) this.histograms.set(entry.method, (h = { buckets: LATENCY_BUCKETS_S.map(() => 0), sum: 0, count: 0 }));
    const seconds = entry.latencyMs / 1000;
    LATENCY_BUCKETS_S.forEach((le, i) => seconds <= le && h.buckets[i]!++);
    h.sum += seconds;
    h.count++;
  }

  /** ordered returns the kept records oldest first. */
  private ordered(): AuditRecord[] {
    return this.head === 0 ? this.recent : [...this.recent.slice(this.head), ...this.recent.slice(0, this.head)];
  }

  query(q: AuditQuery = {}): AuditRecord[] {
    const since = q.since === undefined ? undefined : new Date(q.since).toISOString();
    const until = q.until === undefined ? undefined : new Date(q.until).toISOString();
    const hits = this.ordered().filter(
      (r) =>
        (q.afterSeq === undefined || r.seq > q.afterSeq) &&
        (since === undefined || r.time >= since) &&
        (until === undefined || r.time <= until) &&
        (q.method === undefined || r.method === q.method) &&
        (q.code === undefined || r.code === q.code),
    );
    return q.limit === undefined ? hits : hits.slice(-q.limit);
  }

  /** counters gives calls per method and gRPC code, e.g. `{Encrypt: {OK: 1}}`. */
  counters(): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {};
    for (const [key, n] of this.calls) {
      const [method, code] = key.split('\u0000') as [string, string];
      (out[method] ??= {})[code] = n;
    }
    return out;
  }

  /** metrics renders the counters and latencies in the Prometheus text format. */
  metrics(): string {
    const lines = [
      '# HELP kmslab_fake_kms_calls_total KMS v2 calls served, by method and gRPC code.',
      '# TYPE kmslab_fake_kms_calls_total counter',
    ];
    for (const [method, codes] of Object.entries(this.counters())) {
      for (const [code, n] of Object.entries(codes)) {
        lines.push(`kmslab_fake_kms_calls_total{method="${method}",code="${code}"} ${n}`);
      }
    }
    lines.push(
      '# HELP kmslab_fake_kms_call_duration_seconds KMS v2 call latency as seen by the plugin.',
      '# TYPE kmslab_fake_kms_call_duration_seconds histogram',
    );
    for (const [method, h] of this.histograms) {
      LATENCY_BUCKETS_S.forEach((le, i) =>
        lines.push(`kmslab_fake_kms_call_duration_seconds_bucket{method="${method}",le="${le}"} ${h.buckets[i]}`),
      );
      lines.push(`kmslab_fake_kms_call_duration_seconds_bucket{method="${method}",le="+Inf"} ${h.count}`);
      lines.push(`kmslab_fake_kms_call_duration_seconds_sum{method="${method}"} ${h.sum}`);
      lines.push(`kmslab_fake_kms_call_duration_seconds_count{method="${method}"} ${h.count}`);
    }
    return lines.join('\n') + '\n';
  }

  async close(): Promise<void> {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}
