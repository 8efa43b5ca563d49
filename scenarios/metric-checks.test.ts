import { describe, expect, test } from 'vitest';
import type { Lab } from '../harness/lab.js';
import { keyIdHash } from '../sim/index.js';
import { expectDekCacheAfterRestart, expectKeyIdHashesMoved, expectOneSeedForWrites } from './metric-checks.js';
import type { MetricsDelta } from './step-metrics.js';

// The upstream assertions, each held and then broken one condition at a time: every break must fail the check.
const real = { backend: 'local' } as Lab;
const sim = { backend: 'sim' } as Lab;
const [A, B] = [keyIdHash('key-a'), keyIdHash('key-b')];
const delta = (over: Partial<MetricsDelta> = {}): MetricsDelta => ({
  transformations: {},
  keyIdHashes: {},
  dekSourceCacheSize: { kmslab: { before: 1, after: 1 } },
  statusKeyIdHash: { kmslab: B },
  ...over,
});

test('key_id hashes are sha256 of the key_id, as the apiserver labels them', () => {
  expect(keyIdHash('1')).toBe('sha256:6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b');
});

describe('one DEK seed for 1,000 writes', () => {
  const ok = {
    writes: 1000,
    dekSources: 1,
    encrypts: 0,
    keyIdHash: B,
    delta: delta({ keyIdHashes: { [`to_storage ${B}`]: 1000 } }),
  };
  test('holds', () => expect(expectOneSeedForWrites(real, ok)).toEqual({ writesCountedUnderKeyIdHash: 1000 }));
  test.each([
    ['two seeds in raw etcd', { dekSources: 2 }, /2 DEK seeds/],
    ['an Encrypt during the writes', { encrypts: 1 }, /1 Encrypts/],
    [
      'the DEK cache grew',
      {
        delta: delta({
          keyIdHashes: { [`to_storage ${B}`]: 1000 },
          dekSourceCacheSize: { kmslab: { before: 1, after: 2 } },
        }),
      },
      /from 1 to 2/,
    ],
    [
      'writes not counted under the key_id hash',
      { delta: delta({ keyIdHashes: { [`to_storage ${B}`]: 999 } }) },
      /counted 999/,
    ],
    ['writes counted under another key_id', { keyIdHash: A }, /counted 0/],
  ])('fails on %s', (_what, broken, message) => {
    expect(() => expectOneSeedForWrites(real, { ...ok, ...broken })).toThrow(message);
  });
  test('on the sim the metric part is not decided, and says so; raw etcd and the KMS still judge', () => {
    expect(expectOneSeedForWrites(sim, { ...ok, delta: delta() })).toEqual({
      keyIdHashMetric: expect.stringMatching(/^not decided/),
    });
    expect(() => expectOneSeedForWrites(sim, { ...ok, dekSources: 3 })).toThrow(/3 DEK seeds/);
  });
});

describe('key_id hash counters move on rotation', () => {
  const moved = delta({ keyIdHashes: { [`to_storage ${B}`]: 24, [`from_storage ${A}`]: 24 } });
  test('holds', () =>
    expect(expectKeyIdHashesMoved(real, moved, 'key-a', 'key-b')).toMatchObject({ writesUnderNewKeyIdHash: 24 }));
  test.each([
    [
      'no write under the new hash',
      delta({ keyIdHashes: { [`from_storage ${A}`]: 24 } }),
      /no write counted under the new/,
    ],
    [
      'writes still under the old hash',
      delta({ keyIdHashes: { [`to_storage ${B}`]: 20, [`to_storage ${A}`]: 4 } }),
      /4 writes counted under the old/,
    ],
    [
      'Status still names the old key_id',
      delta({ keyIdHashes: { [`to_storage ${B}`]: 24 }, statusKeyIdHash: { kmslab: A } }),
      /last Status key_id hash/,
    ],
    ['no Status key_id at all', delta({ keyIdHashes: { [`to_storage ${B}`]: 24 }, statusKeyIdHash: {} }), /missing/],
  ])('fails when %s', (_what, d, message) => {
    expect(() => expectKeyIdHashesMoved(real, d, 'key-a', 'key-b')).toThrow(message);
  });
});

describe('the DEK source cache after a restart', () => {
  const restarted = delta({ restarted: true, dekSourceCacheSize: { kmslab: { after: 2 } } });
  test('holds when it equals the distinct DEK sources in etcd', () =>
    expect(expectDekCacheAfterRestart(restarted, 'kmslab', 2)).toEqual({
      dekSourceCacheSize: 2,
      distinctDekSourcesInEtcd: 2,
    }));
  test.each([
    ['it holds fewer', 3],
    ['it holds more', 1],
  ])('fails when %s', (_what, inEtcd) => {
    expect(() => expectDekCacheAfterRestart(restarted, 'kmslab', inEtcd)).toThrow(/DEK source cache holds 2/);
  });
  test('fails when the provider has no cache entry', () => {
    expect(() => expectDekCacheAfterRestart(restarted, 'other', 1)).toThrow(/no entry/);
  });
});
