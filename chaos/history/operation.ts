/** What a request does to a Secret. */
export type Fn = 'create' | 'update' | 'read' | 'delete';

/**
 * How a request ended, in Jepsen's terms: `ok` it happened (a read saw `value`); `fail` the answer proves nothing
 * was applied; `info` the outcome is unknown (timed out and aborted, a 5xx that does not say, a connection lost
 * after sending): the write may take effect at any later time, or never.
 */
export type Completion = 'ok' | 'fail' | 'info';

/**
 * Operation is one request: invoked at `start` by `process`, completed at `end` as `type`. Each client owns its
 * Secrets, so the writes to one Secret never overlap in time; the effect of an `info` write may still land later.
 */
export interface Operation {
  process: number;
  start: number;
  end: number;
  apiserver: string;
  f: Fn;
  key: string;
  /** Writes: the digest of the value written (none for delete). Reads that saw the Secret: the digest read. */
  value?: string;
  type: Completion;
  /** What the failure was (an error class such as `http-409`, `kms-decrypt-failed`, `timeout`). */
  error?: string;
  resourceVersion?: string;
  /** A read made after recovery, every apiserver restarted: what survived. */
  final?: true;
}

/** opsByKey groups a history per Secret, each list in the order the requests were invoked. */
export function opsByKey(history: readonly Operation[]): Map<string, Operation[]> {
  const m = new Map<string, Operation[]>();
  for (const op of history) {
    const list = m.get(op.key);
    if (list) list.push(op);
    else m.set(op.key, [op]);
  }
  for (const list of m.values()) list.sort((a, b) => Number(a.final ?? 0) - Number(b.final ?? 0) || a.start - b.start);
  return m;
}
