import { createHash } from 'node:crypto';
import type { Lab, LabApiserver, RequestOptions } from '../harness/lab.js';
import type { Random } from '../sim/index.js';
import { completionOf, type Fn, type Operation } from './history/index.js';

export interface WorkloadOptions {
  namespace: string;
  clients: number;
  /** Each client owns its own keys, so the requests on a key are sequential and its history linear. */
  keysPerClient: number;
  /**
   * Secrets written once at the start and only read afterwards, as most Secrets of a cluster are: they keep the
   * oldest DEK seeds and key_ids in etcd, so a KMS that loses old keys cannot hide it behind fresh rewrites.
   */
  coldKeys: number;
  random: Random;
  /** Pause between a client's requests, ms (on the lab's clock). */
  thinkMs: number;
  /** A request not answered in this time is aborted; a write's outcome is then unknown (`info`). */
  opTimeoutMs: number;
  /** The workload stops when this says so. */
  done: () => boolean;
  /** Aborts the requests in flight (Ctrl-C). */
  signal?: AbortSignal;
  history: Operation[];
}

/** digest names a value in the history without keeping it (16 hex chars of SHA-256). */
export const digest = (value: string) => createHash('sha256').update(value).digest('hex').slice(0, 16);

/**
 * runWorkload runs concurrent clients that create, update, read and delete Secrets through every running apiserver
 * (chosen at random per request) and records every request and its completion.
 */
export async function runWorkload(lab: Lab, o: WorkloadOptions): Promise<void> {
  let counter = 0;
  const cold = Array.from({ length: o.coldKeys }, (_, j) => `cold-${j}`);
  for (const key of cold) {
    const value = `cold-${key}-${o.random.bytes(8).toString('hex')}`;
    o.history.push(await request(lab, o, lab.apiservers[0]!, -1, 'create', key, value));
  }
  const client = async (c: number) => {
    const keys = Array.from({ length: o.keysPerClient }, (_, j) => `c${c}-k${j}`);
    // What this client believes exists; after a write of unknown outcome it reads before writing again.
    const exists = new Map<string, boolean | 'maybe'>(keys.map((k) => [k, false]));
    while (!o.done()) {
      const readCold = cold.length > 0 && o.random.float() < 0.1;
      const key = readCold
        ? cold[Math.floor(o.random.float() * cold.length)]!
        : keys[Math.floor(o.random.float() * keys.length)]!;
      const state = readCold ? true : exists.get(key)!;
      const roll = o.random.float();
      const f: Fn =
        readCold || state === 'maybe'
          ? 'read'
          : !state
            ? 'create'
            : roll < 0.45
              ? 'update'
              : roll < 0.85
                ? 'read'
                : 'delete';
      const running = lab.apiservers.filter((a) => a.running);
      const pool = running.length ? running : lab.apiservers;
      const apiserver = pool[Math.floor(o.random.float() * pool.length)]!;
      const value = `${c}-${counter++}-${o.random.bytes(8).toString('hex')}`;
      const op = await request(lab, o, apiserver, c, f, key, value);
      o.history.push(op);
      if (!readCold) {
        if (f !== 'read' && op.type === 'ok') exists.set(key, f !== 'delete');
        else if (f !== 'read' && op.type === 'info') exists.set(key, 'maybe');
        else if (f === 'read' && op.type === 'ok') exists.set(key, op.value !== undefined);
      }
      await lab.clock.sleep(o.thinkMs);
    }
  };
  await Promise.all(Array.from({ length: o.clients }, (_, c) => client(c)));
}

// One request, aborted at its deadline (or on Ctrl-C), recorded with what its answer proves.
async function request(
  lab: Lab,
  o: WorkloadOptions,
  apiserver: LabApiserver,
  process: number,
  f: Fn,
  key: string,
  value: string,
): Promise<Operation> {
  const ref = { namespace: o.namespace, name: key };
  const start = lab.clock.now();
  const op: Operation = { process, start, end: start, apiserver: apiserver.name, f, key, type: 'ok' };
  if (f === 'create' || f === 'update') op.value = digest(value);
  const abort = new AbortController();
  const deadline = lab.clock.timeout(o.opTimeoutMs);
  void deadline.done.then(() => abort.abort());
  const interrupt = () => abort.abort();
  o.signal?.addEventListener('abort', interrupt, { once: true });
  const options: RequestOptions = { signal: abort.signal };
  const send = async () => {
    const api = apiserver.api;
    if (f === 'create') return (await api.createSecret(ref, { v: value }, options)).resourceVersion;
    if (f === 'update') return (await api.updateSecret(ref, { v: value }, options)).resourceVersion;
    if (f === 'delete') return void (await api.deleteSecret(ref, options));
    const read = await api.readSecret(ref, options).catch((error: { status?: number }) => {
      if (error?.status === 404) return undefined;
      throw error;
    });
    if (read) op.value = digest(read.data.v?.toString() ?? '');
    return read?.resourceVersion;
  };
  // The abort closes the connection; the race only guards against a call that would not let go.
  const aborted = new Promise<never>((_, reject) =>
    abort.signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }),
  );
  try {
    const rv = await Promise.race([send(), aborted]);
    if (rv) op.resourceVersion = rv;
  } catch (error) {
    const { type, error: cls } = completionOf(error, abort.signal.aborted);
    op.type = type;
    op.error = cls;
    if (f === 'read') delete op.value;
  } finally {
    deadline.cancel();
    o.signal?.removeEventListener('abort', interrupt);
  }
  op.end = lab.clock.now();
  return op;
}
