import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { runFleet } from './fleet.js';
import { FLEET_DEFAULTS, fleetSpecProblems, type FleetEvent } from './fleet-spec.js';

const MIN = 60_000;
const H = 60 * MIN;
// No health checks: Status and v1's probe calls then follow the polls alone.
const quiet = { healthCheckEveryMs: 0 };

// The sequence the integration test replays on a real lab: start, N new Secrets, a rotation, a write with the new
// key, a restart.
const labSequence = (n: number): FleetEvent[] => [
  { atMs: 1_000, op: 'writes', apiserver: 0, count: n, fresh: true },
  { atMs: 2_000, op: 'rotate' },
  { atMs: 70_000, op: 'writes', apiserver: 0, count: 1, fresh: true },
  { atMs: 80_000, op: 'restart', apiserver: 0 },
];

describe('KMS v2', () => {
  test('start, writes, a rotation, a restart: 3 seeds wrapped; the restart LIST decrypts each of the 2 stored seeds', () => {
    // One object decoded at a time (1.34–1.36): one Decrypt per stored seed.
    const one = { listDecodeConcurrency: 1, ...quiet };
    expect(
      runFleet({ apiservers: 1, objects: 0, durationMs: 5 * MIN, events: labSequence(20), ...one }, 'v2').calls,
    ).toMatchObject({ Encrypt: 3, Decrypt: 2 });
    // Ten at once (1.37): the first ten objects all miss the DEK cache before the first Decrypt returns.
    const r = runFleet({ apiservers: 1, objects: 0, durationMs: 5 * MIN, events: labSequence(20), ...quiet }, 'v2');
    expect(r.calls.Encrypt).toBe(3);
    expect(r.calls.Decrypt).toBe(10);
    expect(r.dekSources).toBe(3);
    // Status: the start's inline probe, the minute polls (1 and 2 min after the first start), the restart's, and
    // the polls after it (at 80 s + 1, 2 min); the rotation is picked up by the 60 s poll.
    expect(r.calls.Status).toBe(1 + 1 + 1 + 3);
  });

  test('calls do not grow with the number of Secrets: seeds and sources, not objects', () => {
    // Few enough rewrites that every seed keeps objects in both (a seed whose objects are all rewritten is never
    // decrypted again, so heavy churn of a small store does change the count).
    const spec = { apiservers: 3, durationMs: 2 * H, rotateEveryMs: 30 * MIN, restartEveryMs: H, writesPerSecond: 0.5 };
    const small = runFleet({ ...spec, objects: 10_000 }, 'v2');
    const large = runFleet({ ...spec, objects: 1_000_000 }, 'v2');
    expect(large.calls).toEqual(small.calls);
  });

  test('every apiserver decrypts each other apiserver’s seed once, as it first sees it written', () => {
    const r = runFleet({ apiservers: 4, objects: 0, durationMs: 10 * MIN, writesPerSecond: 10, ...quiet }, 'v2');
    expect(r.calls.Encrypt).toBe(4);
    expect(r.calls.Decrypt).toBe(4 * 3);
  });

  test('each rotation costs one Encrypt per apiserver', () => {
    const r = runFleet({ apiservers: 5, objects: 100, durationMs: 3 * H + 5 * MIN, rotateEveryMs: H, ...quiet }, 'v2');
    expect(r.calls.Encrypt).toBe(5 * (1 + 3));
  });

  test('writes go on for 3 minutes of KMS outage, then fail until the KMS is back', () => {
    const r = runFleet(
      {
        apiservers: 1,
        objects: 10,
        durationMs: 30 * MIN,
        writesPerSecond: 1,
        outages: [{ atMs: 5.5 * MIN, durationMs: 10 * MIN }],
        ...quiet,
      },
      'v2',
    );
    // The last good Status before the outage is the 5 min poll: the write key lives until 8 min. Polls then fail
    // every 10 s; the KMS is back at 15.5 min, where a poll falls, and writes resume.
    expect(r.failedWrites).toBe(7.5 * 60);
    expect(r.refused.Status).toBe(1 + 56); // the 6 min poll, then every 10 s from 6:10 to 15:20
  });
});

describe('KMS v1: one call per object', () => {
  test('start, writes, a rotation, a restart: one Encrypt per write, one Decrypt per stored object on restart', () => {
    const r = runFleet({ apiservers: 1, objects: 0, durationMs: 5 * MIN, events: labSequence(20), ...quiet }, 'v1');
    expect(r.calls.Encrypt).toBe(21);
    expect(r.calls.Decrypt).toBe(21);
    expect(r.calls.Status).toBe(0);
  });

  test('each apiserver start decrypts every stored object; each write is decrypted by every other apiserver', () => {
    const r = runFleet(
      {
        apiservers: 3,
        objects: 5_000,
        durationMs: 10 * MIN,
        events: [{ atMs: MIN, op: 'writes', apiserver: 1, count: 7, fresh: false }],
        ...quiet,
      },
      'v1',
    );
    expect(r.calls.Decrypt).toBe(3 * 5_000 + 7 * 2);
    expect(r.calls.Encrypt).toBe(7);
    expect(r.dekSources).toBe(7);
  });

  test('reads from etcd miss the DEK cache in proportion to what it cannot hold', () => {
    const spec = { apiservers: 1, durationMs: 1_000_000, readsPerSecond: 10, ...quiet };
    expect(runFleet({ ...spec, objects: 1_000 }, 'v1').calls.Decrypt).toBe(1_000); // the LIST; every read hits
    expect(runFleet({ ...spec, objects: 4_000 }, 'v1').calls.Decrypt).toBe(4_000 + 10_000 * 0.75);
  });

  test('the health probe is an Encrypt and a Decrypt every 20 s', () => {
    const r = runFleet({ apiservers: 1, objects: 0, durationMs: 10 * MIN, healthCheckEveryMs: 1_000 }, 'v1');
    expect(r.calls.Encrypt).toBe(1 + 29);
    expect(r.calls.Decrypt).toBe(1 + 29);
  });
});

test('10 apiservers × 1M Secrets × 24 h: v1 calls grow with objects, v2 calls with seeds', () => {
  // Rotations at 5, 10, 15, 20 h; apiserver i restarts at (i + 1) × 2.4 h (the tenth would fall at 24 h, outside).
  const spec = {
    apiservers: 10,
    objects: 1_000_000,
    durationMs: 24 * H,
    writesPerSecond: 1_000_000 / 86_400,
    rotateEveryMs: 5 * H,
    restartEveryMs: 24 * H,
  };
  const v1 = runFleet(spec, 'v1');
  const v2 = runFleet(spec, 'v2');
  // v1: every start and restart LISTs 1M objects; every write is an Encrypt plus 9 Decrypts.
  expect(v1.calls.Decrypt).toBeGreaterThan((10 + 9) * 1_000_000 + 9 * 1_000_000 * 0.99);
  expect(v2.calls.Encrypt).toBe(10 + 9 + 10 * 4); // starts, restarts, and a seed per apiserver per rotation
  expect(v2.calls.Decrypt).toBeLessThan(10_000);
  expect(v2.peakPerSecond).toBeLessThan(v1.peakPerSecond);
});

describe('only work that fits in the period is billed; the rest is reported as unfinished', () => {
  test('v1, one apiserver, 1M Secrets, 10 min: the LIST makes 200 Decrypts/s at 5 ms, 880,000 are left', () => {
    const r = runFleet({ apiservers: 1, objects: 1_000_000, durationMs: 10 * MIN }, 'v1');
    // 600 s × 200/s for the LIST, plus the health probe's Decrypt every 20 s (30 of them).
    expect(r.calls.Decrypt).toBe(120_000 + 30);
    expect(r.unfinished).toEqual({ lists: 1, calls: { Status: 0, Encrypt: 0, Decrypt: 880_000 } });
    expect(r.peakPerSecond).toBeLessThanOrEqual(200 + 2);
  });

  test('a restart ends the LIST it interrupts: its remaining calls are never made, the new LIST starts over', () => {
    const r = runFleet(
      {
        apiservers: 1,
        objects: 1_000_000,
        durationMs: 30 * MIN,
        events: [{ atMs: 10 * MIN, op: 'restart', apiserver: 0 }],
        ...quiet,
      },
      'v1',
    );
    expect(r.calls.Decrypt).toBe(200 * 600 + 200 * 1200);
    expect(r.unfinished).toEqual({ lists: 1, calls: { Status: 0, Encrypt: 0, Decrypt: 1_000_000 - 200 * 1200 } });
  });

  test('a LIST cut at the end of the period: billed plus unfinished is the whole LIST, though both halves end in .5', () => {
    // Found by the property below: 139,987.5 made and 524,288.5 left were each rounded up.
    const spec = { apiservers: 1, objects: 664_276, durationMs: 6_999_375, kmsLatencyMs: 49.99999999999998 };
    const r = runFleet({ ...spec, restartEveryMs: 0, rotateEveryMs: 0, healthCheckEveryMs: 0 }, 'v1');
    expect(r.calls.Decrypt + r.unfinished.calls.Decrypt).toBe(664_276);
  });

  test('any fleet: a LIST never bills more than its round trips allow, and billed plus unfinished is the whole LIST', () => {
    fc.assert(
      fc.property(
        fc.record({
          apiservers: fc.integer({ min: 1, max: 4 }),
          objects: fc.integer({ min: 0, max: 3_000_000 }),
          durationMs: fc.integer({ min: MIN, max: 3 * H }),
          kmsLatencyMs: fc.double({ min: 0.1, max: 50, noNaN: true }),
          restartEveryMs: fc.constantFrom(0, 20 * MIN, H),
          rotateEveryMs: fc.constantFrom(0, 30 * MIN),
        }),
        fc.constantFrom('v1' as const, 'v2' as const),
        (spec, kms) => {
          const r = runFleet({ ...spec, healthCheckEveryMs: 0 }, kms);
          const seconds = spec.durationMs / 1000;
          const perLister = 1000 / spec.kmsLatencyMs;
          // Without writes or probes, Decrypts are LIST calls (v1: one per object; v2: a few per LIST).
          expect(r.calls.Decrypt).toBeLessThanOrEqual(spec.apiservers * perLister * seconds + 1);
          // A second holds at most each apiserver's LIST at full speed, plus its Status and seed Encrypt.
          expect(r.peakPerSecond).toBeLessThanOrEqual(spec.apiservers * (perLister + 2) + 1);
          expect(r.unfinished.lists).toBeLessThanOrEqual(spec.apiservers);
          if (kms === 'v1' && spec.restartEveryMs === 0)
            expect(r.calls.Decrypt + r.unfinished.calls.Decrypt).toBe(spec.apiservers * spec.objects);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('limits: runs that could not answer are refused before they start, naming the limit', () => {
  const base = { ...FLEET_DEFAULTS, apiservers: 3, objects: 1_000, durationMs: H };
  test.each([
    ['an infinite object count', { objects: 1e308 }, /objects 1e\+308: must be a whole number from 0 to 1,000,000,000/],
    ['ten years', { durationMs: 3650 * 24 * H }, /durationMs 3650d: must be above 0 and at most 366d/],
    ['100,000 apiservers', { apiservers: 100_000 }, /apiservers 100000: must be a whole number from 1 to 100/],
    [
      'too many apiserver-days',
      { apiservers: 20, durationMs: 200 * 24 * H },
      /4,000 apiserver-days; the most is 3,660/,
    ],
    ['a rotation every millisecond', { rotateEveryMs: 1 }, /rotateEveryMs 1ms: the shortest is 10m/],
    ['a KMS that answers in no time', { kmsLatencyMs: 0 }, /kmsLatencyMs 0: must be from 0.1 to 60,000/],
    ['an outage after the period', { outages: [{ atMs: 2 * H, durationMs: MIN }] }, /starts outside the period/],
    [
      'overlapping outages',
      {
        outages: [
          { atMs: 10 * MIN, durationMs: 20 * MIN },
          { atMs: 20 * MIN, durationMs: MIN },
        ],
      },
      /overlaps/,
    ],
  ])('%s', (_what, change, message) => {
    const spec = { ...base, ...change };
    expect(fleetSpecProblems(spec).join('\n')).toMatch(message);
    expect(() => runFleet(spec, 'v2')).toThrow(message);
  });

  test('the largest run allowed is accepted', () => {
    expect(fleetSpecProblems({ ...base, apiservers: 10, durationMs: 366 * 24 * H })).toEqual([]);
  });
});
