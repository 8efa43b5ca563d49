import { appendFileSync, closeSync, openSync } from 'node:fs';

/** AuditIndex is what every cloud's audit event is found by, whatever the event's own shape. */
export interface AuditIndex {
  seq: number;
  time: string;
  action: string;
  errorCode?: string;
  /** `user:NAME` or `role:NAME`; absent when the caller could not be identified. */
  principal?: string;
  keyId?: string;
}

export interface AuditQuery {
  afterSeq?: number;
  since?: string;
  action?: string;
  errorCode?: string;
  /** `ok` for successful calls only, `error` for failed ones. */
  outcome?: 'ok' | 'error';
  principal?: string;
  keyId?: string;
  limit?: number;
}

export interface AuditEntry<E> extends AuditIndex {
  event: E;
}

/**
 * AuditLog keeps a cloud's audit events: the newest in memory for queries, every one appended as a JSON line (the
 * event alone, in the cloud's own shape) to a 0600 file. Fronts must never put plaintext, ciphertext or secrets in an
 * event; this class cannot tell what is secret, so it only stores what it is given.
 */
export class AuditLog<E> {
  private readonly recent: AuditEntry<E>[] = [];
  private seq = 0;

  constructor(
    private readonly file?: string,
    private readonly keep = 20_000,
  ) {
    if (file) closeSync(openSync(file, 'a', 0o600));
  }

  append(index: Omit<AuditIndex, 'seq'>, event: E): AuditEntry<E> {
    const entry = { ...index, seq: ++this.seq, event };
    this.recent.push(entry);
    if (this.recent.length > this.keep) this.recent.splice(0, this.recent.length - this.keep);
    if (this.file) appendFileSync(this.file, JSON.stringify(event) + '\n', { mode: 0o600 });
    return entry;
  }

  query(q: AuditQuery = {}): AuditEntry<E>[] {
    const since = q.since ? Date.parse(q.since) : undefined;
    const hits = this.recent.filter(
      (e) =>
        (q.afterSeq === undefined || e.seq > q.afterSeq) &&
        (since === undefined || Date.parse(e.time) >= since) &&
        (q.action === undefined || e.action === q.action) &&
        (q.errorCode === undefined || e.errorCode === q.errorCode) &&
        (q.outcome === undefined || (q.outcome === 'ok') === (e.errorCode === undefined)) &&
        (q.principal === undefined || e.principal === q.principal) &&
        (q.keyId === undefined || e.keyId === q.keyId),
    );
    return q.limit === undefined ? hits : hits.slice(-q.limit);
  }

  /** counts: calls per action and outcome (the error code, or "ok"). */
  counts(): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {};
    for (const e of this.recent) {
      const byCode = (out[e.action] ??= {});
      const code = e.errorCode ?? 'ok';
      byCode[code] = (byCode[code] ?? 0) + 1;
    }
    return out;
  }
}
