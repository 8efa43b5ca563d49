import { describe, expect, test } from 'vitest';
import { ApiError } from '../../harness/lab.js';
import { completionOf } from './outcome.js';

describe('what an answer proves about a write', () => {
  test.each<[string, unknown, 'fail' | 'info']>([
    ['409 AlreadyExists / Conflict', new ApiError(409, 'secrets "x" already exists', 'AlreadyExists'), 'fail'],
    ['404 before an update', new ApiError(404, 'secrets "x" not found', 'NotFound'), 'fail'],
    ['422 validation', new ApiError(422, 'Secret "x" is invalid', 'Invalid'), 'fail'],
    ['429 flow control', new ApiError(429, 'too many requests', 'TooManyRequests'), 'fail'],
    [
      '500 from the KMS transformer, before etcd',
      new ApiError(500, 'Internal error occurred: encryptedDEKSource with keyID hash "sha256:ab" expired at …'),
      'fail',
    ],
    ['500 nil transformer', new ApiError(500, 'Internal error occurred: got unexpected nil transformer'), 'fail'],
    ['a connection never made', new ApiError(0, 'apiserver unreachable: connect ECONNREFUSED 127.0.0.1:6443'), 'fail'],
    [
      '504 the handler ran on',
      new ApiError(504, 'request did not complete within requested timeout - context deadline exceeded', 'Timeout'),
      'info',
    ],
    ['500 etcdserver: request timed out', new ApiError(500, 'etcdserver: request timed out'), 'info'],
    [
      '500 ServerTimeout',
      new ApiError(500, 'The create operation against secrets could not be completed at this time'),
      'info',
    ],
    ['503', new ApiError(503, 'the server is currently unable to handle the request'), 'info'],
    ['408', new ApiError(408, 'request timeout'), 'info'],
    ['a connection lost after sending', new ApiError(0, 'apiserver unreachable: socket hang up'), 'info'],
    ['anything else', new Error('boom'), 'info'],
  ])('%s → %s', (_, error, type) => {
    expect(completionOf(error, false).type).toBe(type);
  });

  test('a request aborted at its deadline is of unknown outcome, whatever the abort looked like', () => {
    expect(completionOf(new ApiError(409, 'conflict'), true)).toEqual({ type: 'info', error: 'timeout' });
  });
});
