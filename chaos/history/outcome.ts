import { ApiError } from '../../harness/lab.js';
import { errorClass } from '../../scenarios/index.js';
import type { Completion } from './operation.js';

/**
 * completionOf says what a failed request proves, read from kube-apiserver v1.37's sources:
 * - `fail` only for answers given before anything reached etcd: any 4xx but 408 (409 AlreadyExists/Conflict from
 *   the storage's compare, 404 before the write, 400/422 validation, 403, 429 from flow control), a 500 whose text
 *   is the KMS transformer's (etcd3/store.go transforms before its Txn, reads before GuaranteedUpdate writes), and a
 *   connection that was never made;
 * - `info` for everything else: a request we aborted at its deadline, 504 "request did not complete within
 *   requested timeout" (finisher.go answers while the handler runs on), a ServerTimeout or "etcdserver: request
 *   timed out" (the proposal may still commit), any other 5xx, a connection lost after sending.
 */
export function completionOf(error: unknown, aborted: boolean): { type: Exclude<Completion, 'ok'>; error: string } {
  const cls = aborted ? 'timeout' : errorClass(error);
  if (aborted) return { type: 'info', error: cls };
  if (error instanceof ApiError) {
    if (error.status >= 400 && error.status < 500 && error.status !== 408) return { type: 'fail', error: cls };
    if (error.status === 500 && cls.startsWith('kms-')) return { type: 'fail', error: cls };
    if (error.status === 0 && NEVER_SENT.test(error.message)) return { type: 'fail', error: 'connection-refused' };
  }
  return { type: 'info', error: cls };
}

// A connection that was never established carried no request.
const NEVER_SENT = /ECONNREFUSED|connection refused|ENOENT|EHOSTUNREACH|ENETUNREACH/;
