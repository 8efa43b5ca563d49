import { createReadStream } from 'node:fs';
import { appendFile, readFile, stat } from 'node:fs/promises';
import { closeSync, existsSync, openSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { KmsMethod } from './faults.js';
import type { SocketPeer } from './socket-peer.js';

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
  /** A Status answer's healthz when it was not "ok": the plugin said it is unhealthy. */
  healthz?: string;
  /** Why kube-apiserver will refuse this answer although the plugin gave it (set by the proxy, which can see it). */
  apiserverWillRefuse?: string;
  /** Who called: the process at the other end of the socket connection (pid, uid, executable), where it can be known. */
  peer?: SocketPeer;
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

export interface AuditTrailOptions {
  /** JSONL file (0600) every record is appended to; none keeps the trail in memory only. */
  file?: string;
  /** Records kept in memory for queries. Default 20,000. */
  keep?: number;
  /** The file is rotated to `<file>.1` before it would grow past this. Default 64 MiB. */
  maxFileBytes?: number;
  /** Rotated files kept (`<file>.1` … `<file>.N`, oldest dropped). Default 4. */
  maxFiles?: number;
}

type Totals = {
  lastSeq: number;
  calls: Record<string, Record<string, number>>;
  histograms: Record<string, { buckets: number[]; sum: number; count: number }>;
};

const LATENCY_BUCKETS_S = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 3, 10];
// A record's free-text fields come from callers (a uid of any size, an upstream plugin's error text): bounded here.
const MAX_UID = 128;
const MAX_MESSAGE = 1024;
// A valid key_id is at most 1 KiB, so every one the apiserver accepts is kept whole; a larger one is cut.
const MAX_KEY_ID = 1024;

/**
 * AuditTrail appends each record to a JSONL file and keeps the newest ones in memory for queries, with per-method
 * counters and a latency histogram for Prometheus. The file rotates; on rotation the totals so far are saved beside
 * it (`<file>.state`), so a restart reads back only the current file and still continues seq and the counters.
 */
export class AuditTrail {
  // A ring of the newest records: constant cost per call however long the plugin runs.
  private readonly recent: AuditRecord[] = [];
  private head = 0;
  private readonly keep: number;
  private readonly maxFileBytes: number;
  private readonly maxFiles: number;
  private totals: Totals = { lastSeq: 0, calls: {}, histograms: {} };
  // Group commit: a call is answered only once the promise its record returned has settled (the write returned),
  // so a plugin killed with SIGKILL loses nothing already answered and sequence numbers never repeat after a
  // restart. The records of one event-loop turn (a burst of requests read together) share one write(2) at the end
  // of the turn (setImmediate; not at the next tick or microtask: grpc-js hands over the calls of one read in
  // separate ticks). But when the last turn made at most one record, calls come one at a time, and the first
  // record of a turn is written at once: its answer then leaves in the same turn as its request, with no extra
  // trip round the event loop.
  private fd: number | undefined;
  private file: string | undefined;
  private fileBytes = 0;
  private pending: string[] = [];
  private pendingBytes = 0;
  private batch: Batch | undefined;
  // Records made so far in this event-loop turn, and in the last turn that made any.
  private turnRecords = 0;
  private lastTurnRecords = 0;

  constructor(options: Omit<AuditTrailOptions, 'file'> = {}) {
    this.keep = options.keep ?? 20_000;
    this.maxFileBytes = options.maxFileBytes ?? 64 * 1024 * 1024;
    this.maxFiles = options.maxFiles ?? 4;
  }

  /** open makes a trail; with a file, it first reads back what an earlier run of the plugin wrote there. */
  static async open(options: AuditTrailOptions = {}): Promise<AuditTrail> {
    const trail = new AuditTrail(options);
    if (options.file) await trail.resume(options.file);
    return trail;
  }

  get lastSeq(): number {
    return this.totals.lastSeq;
  }

  // A plugin restarted on the same files continues its trail: recent records stay queryable and seq keeps rising.
  // The file is streamed (it may be large); a line cut short by a kill -9 is skipped. Any other failure to read it
  // back stops the plugin: a trail that silently starts over at seq 1 would be a lie.
  private async resume(file: string): Promise<void> {
    const unreadable = (what: string, error: unknown) =>
      new Error(
        `audit ${what} ${file} could not be read back (${(error as Error).message}); move it away to start a new trail, or give the plugin another audit file`,
      );
    try {
      const saved = JSON.parse(await readFile(`${file}.state`, 'utf8')) as Totals;
      if (typeof saved.lastSeq !== 'number') throw new Error('no lastSeq');
      this.totals = saved;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw unreadable('state', error);
    }
    const savedSeq = this.totals.lastSeq;
    let size = 0;
    try {
      size = (await stat(file)).size;
      const lines = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
      for await (const line of lines) {
        const entry = parseRecord(line);
        if (!entry) continue;
        this.push(entry);
        if (entry.seq > savedSeq) this.count(entry);
      }
      // End a torn last line, so the next record starts on a line of its own.
      if (size > 0 && !(await endsWithNewline(file, size))) {
        await appendFile(file, '\n');
        size += 1;
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw unreadable('file', error);
    }
    this.file = file;
    this.fileBytes = size;
    this.fd = openSync(file, 'a', 0o600);
  }

  /**
   * record adds a call to the trail. In memory (queries, counters) it is there at once; in the file it lands at
   * once or with the rest of its turn's batch, and the promise settles when that write has returned (it rejects if
   * the write failed). A server answers the call only after that.
   */
  record(fields: Omit<AuditRecord, 'seq'>): Promise<void> {
    // Field by field, not spread: every call makes one, and a fixed shape keeps it and its JSON cheap.
    const entry: AuditRecord = {
      seq: this.totals.lastSeq + 1,
      time: fields.time,
      method: fields.method,
      uid: bounded(fields.uid, MAX_UID),
      keyId: bounded(fields.keyId, MAX_KEY_ID),
      code: fields.code,
      latencyMs: fields.latencyMs,
      requestBytes: fields.requestBytes,
      responseBytes: fields.responseBytes,
      faults: fields.faults,
    };
    if (fields.message !== undefined) entry.message = bounded(fields.message, MAX_MESSAGE);
    if (fields.apiserverWillRefuse !== undefined)
      entry.apiserverWillRefuse = bounded(fields.apiserverWillRefuse, MAX_MESSAGE);
    if (fields.healthz !== undefined) entry.healthz = bounded(fields.healthz, MAX_MESSAGE);
    if (fields.peer !== undefined) entry.peer = fields.peer;
    this.push(entry);
    this.count(entry);
    if (this.fd === undefined) return WRITTEN;
    const line = JSON.stringify(entry) + '\n';
    const bytes = Buffer.byteLength(line);
    const size = this.fileBytes + this.pendingBytes;
    if (size > 0 && size + bytes > this.maxFileBytes) {
      // Rotation happens between batches: what is pending belongs to the file being closed.
      this.flush();
      this.rotate();
    }
    this.pending.push(line);
    this.pendingBytes += bytes;
    if (this.turnRecords++ === 0) {
      setImmediate(this.endTurn);
      if (this.lastTurnRecords <= 1) return this.flush();
    }
    return (this.batch ??= new Batch()).written;
  }

  private readonly endTurn = () => {
    this.lastTurnRecords = this.turnRecords;
    this.turnRecords = 0;
    this.flush();
  };

  // One write(2) for what is pending (looping only if the kernel takes less than all of it); the batch waiting on
  // it, if any, settles, and so does the promise returned.
  private flush(): Promise<void> {
    const batch = this.batch;
    this.batch = undefined;
    if (this.pending.length === 0) return WRITTEN;
    const data = Buffer.from(this.pending.length === 1 ? this.pending[0]! : this.pending.join(''));
    this.pending = [];
    this.pendingBytes = 0;
    try {
      for (let off = 0; off < data.length;) off += writeSync(this.fd!, data, off, data.length - off);
      this.fileBytes += data.length;
      batch?.settle();
      return WRITTEN;
    } catch (error) {
      batch?.settle(error as Error);
      return failed(error as Error);
    }
  }

  // The totals are saved before the file moves, so a crash at any point leaves them consistent with what remains.
  private rotate(): void {
    const file = this.file!;
    writeFileSync(`${file}.state.tmp`, JSON.stringify(this.totals), { mode: 0o600 });
    renameSync(`${file}.state.tmp`, `${file}.state`);
    closeSync(this.fd!);
    rmSync(`${file}.${this.maxFiles}`, { force: true });
    for (let i = this.maxFiles - 1; i >= 1; i--) {
      if (existsSync(`${file}.${i}`)) renameSync(`${file}.${i}`, `${file}.${i + 1}`);
    }
    renameSync(file, `${file}.1`);
    this.fd = openSync(file, 'a', 0o600);
    this.fileBytes = 0;
  }

  private push(entry: AuditRecord): void {
    if (this.recent.length < this.keep) this.recent.push(entry);
    else {
      this.recent[this.head] = entry;
      this.head = (this.head + 1) % this.keep;
    }
  }

  private count(entry: AuditRecord): void {
    const t = this.totals;
    t.lastSeq = Math.max(t.lastSeq, entry.seq);
    const codes = (t.calls[entry.method] ??= {});
    codes[entry.code] = (codes[entry.code] ?? 0) + 1;
    const h = (t.histograms[entry.method] ??= { buckets: LATENCY_BUCKETS_S.map(() => 0), sum: 0, count: 0 });
    const seconds = entry.latencyMs / 1000;
    for (let i = 0; i < LATENCY_BUCKETS_S.length; i++) if (seconds <= LATENCY_BUCKETS_S[i]!) h.buckets[i]!++;
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

  /** counters gives calls per method and gRPC code since the trail began, e.g. `{Encrypt: {OK: 1}}`. */
  counters(): Record<string, Record<string, number>> {
    return structuredClone(this.totals.calls);
  }

  /**
   * metrics renders the counters and latencies in the Prometheus text format. Hand-written rather than prom-client:
   * the totals must be restored from the trail and saved synchronously at rotation, and every label value here is
   * one of a fixed set (method and gRPC code names), so nothing needs escaping.
   */
  metrics(): string {
    const lines = [
      '# HELP kmslab_fake_kms_calls_total KMS v2 calls served, by method and gRPC code.',
      '# TYPE kmslab_fake_kms_calls_total counter',
    ];
    for (const [method, codes] of Object.entries(this.totals.calls)) {
      for (const [code, n] of Object.entries(codes)) {
        lines.push(`kmslab_fake_kms_calls_total{method="${method}",code="${code}"} ${n}`);
      }
    }
    lines.push(
      '# HELP kmslab_fake_kms_call_duration_seconds KMS v2 call latency as seen by the plugin.',
      '# TYPE kmslab_fake_kms_call_duration_seconds histogram',
    );
    for (const [method, h] of Object.entries(this.totals.histograms)) {
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
    this.flush();
    closeSync(this.fd);
    this.fd = undefined;
  }
}

const WRITTEN = Promise.resolve();

// The text before the milliseconds of the last second formatted ("2026-11-29T22:00:10."), and that second.
let cachedSecond = Number.NaN;
let cachedPrefix = '';

/**
 * auditTime is `new Date(epochMs).toISOString()`, the form of AuditRecord.time. Every call formats one, and
 * toISOString goes through printf each time, so the part up to the second is reused while the second lasts.
 */
export function auditTime(epochMs: number): string {
  const ms = Math.trunc(epochMs); // as Date does with a fraction
  const second = Math.floor(ms / 1000);
  if (second !== cachedSecond) {
    const text = new Date(second * 1000).toISOString();
    cachedPrefix = text.slice(0, -4); // "mmmZ" off; years past 9999 make the prefix longer, not different
    cachedSecond = second;
  }
  const milli = ms - second * 1000;
  return cachedPrefix + (milli < 10 ? '00' : milli < 100 ? '0' : '') + milli + 'Z';
}

// A rejected promise that nobody need await (an in-process trail) without crashing the process.
function failed(error: Error): Promise<void> {
  const promise = Promise.reject(error);
  promise.catch(() => undefined);
  return promise;
}

// Batch is one group commit: the promise every record in it returns, settled when its write returns.
class Batch {
  readonly written: Promise<void>;
  settle!: (error?: Error) => void;
  constructor() {
    this.written = new Promise<void>((resolve, reject) => {
      this.settle = (error) => (error ? reject(error) : resolve());
    });
    this.written.catch(() => undefined); // as failed(): nobody need await it
  }
}

function parseRecord(line: string): AuditRecord | undefined {
  if (!line) return undefined;
  try {
    const entry = JSON.parse(line) as AuditRecord;
    return typeof entry.seq === 'number' ? entry : undefined;
  } catch {
    return undefined; // torn write at the end of the file
  }
}

function bounded(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…(${text.length} chars)`;
}

async function endsWithNewline(file: string, size: number): Promise<boolean> {
  const stream = createReadStream(file, { start: size - 1, end: size - 1 });
  for await (const chunk of stream) return (chunk as Buffer)[0] === 0x0a;
  return true;
}
