import { createHash } from 'node:crypto';
import type { Lab } from '../harness/lab.js';
import type { Random } from '../sim/index.js';
import { errorClass } from '../scenarios/index.js';

export type Op = 'create' | 'update' | 'read' | 'delete';

/**
 * HistoryEntry is one request of the workload and its answer. `unknown`: the request was given up on (timeout)
 * or the connection broke, so a write may or may not have happened — the checker treats it as either.
 */
export interface HistoryEntry {
  start: number;
  end: number;
  client: number;
  apiserver: string;
  op: Op;
  key: string;
  /** For writes: the digest of the value written; for reads: of the value read (absent: not found). */
  digest?: string;
  resourceVersion?: string;
  outcome: 'ok' | 'fail' | 'unknown';
  errorClass?: string;
}

export interface WorkloadOptions {
  namespace: string;
  clients: number;
  /** Each client owns its own keys, so the operations on a key are sequential and the history per key linear. */
  keysPerClient: number;
  /**
   * Secrets written once at the start and only read afterwards, as most Secrets of a cluster are: they keep the
   * oldest DEK seeds and key_ids in etcd, so a KMS that loses old keys cannot hide it behind fresh rewrites.
   */
  coldKeys: number;
  random: Random;
  /** Pause between a client's requests, ms (on the lab's clock). */
  thinkMs: number;
  /** A request not answered in this time is given up on (outcome unknown). */
  opTimeoutMs: number;
  /** The workload stops when this says so. */
  done: () => boolean;
  history: HistoryEntry[];
}

/** digest names a value in the history without keeping it (16 hex chars of SHA-256). */
export const digest = (value: string) => createHash('sha256').update(value).digest('hex').slice(0, 16);

/**
 * runWorkload runs concurrent clients that create, update, read and delete Secrets through every running apiserver
 * (chosen at random per request) and records every request and answer.
 */
export async function runWorkload(lab: Lab, o: WorkloadOptions): Promise<void> {
  let counter = 0;
  const cold = Array.from({ length: o.coldKeys }, (_, j) => `cold-${j}`);
  for (const key of cold) {
    const value = `cold-${key}-${o.random.bytes(8).toString('hex')}`;
    const start = lab.clock.now();
    const entry: HistoryEntry = {
      start,
      end: start,
      client: -1,
      apiserver: lab.apiservers[0]!.name,
      op: 'create',
      key,
      digest: digest(value),
      outcome: 'ok',
    };
    try {
      entry.resourceVersion = (
        await lab.apiservers[0]!.api.createSecret({ namespace: o.namespace, name: key }, { v: value })
      ).resourceVersion;
    } catch (error) {
      entry.outcome = 'fail';
      entry.errorClass = errorClass(error);
    }
    entry.end = lab.clock.now();
    o.history.push(entry);
  }
  const client = async (c: number) => {
    const keys = Array.from({ length: o.keysPerClient }, (_, j) => `c${c}-k${j}`);
    // What this client believes exists (writes whose outcome is unknown make it "maybe").
    const exists = new Map<string, boolean | 'maybe'>(keys.map((k) => [k, false]));
    while (!o.done()) {
      const readCold = cold.length > 0 && o.random.float() < 0.1;
      const key = readCold
        ? cold[Math.floor(o.random.float() * cold.length)]!
        : keys[Math.floor(o.random.float() * keys.length)]!;
      const state = readCold ? true : exists.get(key)!;
      const roll = o.random.float();
      const op: Op = readCold
        ? 'read'
        : state === 'maybe'
          ? 'read'
          : !state
            ? 'create'
            : roll < 0.45
              ? 'update'
              : roll < 0.85
                ? 'read'
                : 'delete';
      const running = lab.apiservers.filter((a) => a.running);
      const apiserver = (running.length ? running : lab.apiservers)[
        Math.floor(o.random.float() * Math.max(1, running.length || lab.apiservers.length))
      ]!;
      const value = `${c}-${counter++}-${o.random.bytes(8).toString('hex')}`;
      const ref = { namespace: o.namespace, name: key };
      const start = lab.clock.now();
      const entry: HistoryEntry = { start, end: start, client: c, apiserver: apiserver.name, op, key, outcome: 'ok' };
      if (op === 'create' || op === 'update') entry.digest = digest(value);
      const request = async () => {
        if (op === 'create') return (await apiserver.api.createSecret(ref, { v: value })).resourceVersion;
        if (op === 'update') return (await apiserver.api.updateSecret(ref, { v: value })).resourceVersion;
        if (op === 'delete') return void (await apiserver.api.deleteSecret(ref));
        const read = await apiserver.api.readSecret(ref).catch((error: { status?: number }) => {
          if (error?.status === 404) return undefined;
          throw error;
        });
        if (read) entry.digest = digest(read.data.v?.toString() ?? '');
        return read?.resourceVersion;
      };
      const deadline = lab.clock.timeout(o.opTimeoutMs);
      try {
        const result = await Promise.race([request(), deadline.done.then(() => 'timeout' as const)]);
        if (result === 'timeout') {
          entry.outcome = op === 'read' ? 'fail' : 'unknown';
          entry.errorClass = 'timeout';
        } else if (result) entry.resourceVersion = result;
      } catch (error) {
        const cls = errorClass(error);
        // A broken connection may have delivered a write; an answer from the apiserver says it did not happen.
        entry.outcome = op !== 'read' && /^(error|http-0)$/.test(cls) ? 'unknown' : 'fail';
        entry.errorClass = cls;
      } finally {
        deadline.cancel();
      }
      entry.end = lab.clock.now();
      o.history.push(entry);
      if (readCold) {
        // cold keys are never written again
      } else if (op !== 'read') {
        if (entry.outcome === 'ok') exists.set(key, op !== 'delete');
        else if (entry.outcome === 'unknown') exists.set(key, 'maybe');
      } else if (entry.outcome === 'ok') exists.set(key, entry.digest !== undefined);
      await lab.clock.sleep(o.thinkMs);
    }
  };
  await Promise.all(Array.from({ length: o.clients }, (_, c) => client(c)));
}
