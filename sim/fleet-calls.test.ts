import fc from 'fast-check';
import { expect, test } from 'vitest';
import { FleetCalls } from './fleet-calls.js';

// FleetCalls keeps only the seconds still open and adds running bursts as rates; a plain array of every second of
// the period, filled call by call, must give the same counts and the same peak.
type Op =
  | { kind: 'at'; dt: number; n: number }
  | { kind: 'spread'; dt: number; len: number; n: number }
  | { kind: 'burst'; dt: number; n: number; perSecond: number; cancelAfter: number | undefined };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('at' as const),
    dt: fc.integer({ min: 0, max: 3_000 }),
    n: fc.integer({ min: 1, max: 50 }),
  }),
  fc.record({
    kind: fc.constant('spread' as const),
    dt: fc.integer({ min: 0, max: 3_000 }),
    len: fc.integer({ min: 0, max: 20_000 }),
    n: fc.integer({ min: 1, max: 500 }),
  }),
  fc.record({
    kind: fc.constant('burst' as const),
    dt: fc.integer({ min: 0, max: 3_000 }),
    n: fc.integer({ min: 1, max: 5_000 }),
    perSecond: fc.integer({ min: 1, max: 400 }),
    cancelAfter: fc.option(fc.integer({ min: 0, max: 30_000 }), { nil: undefined }),
  }),
);

test('counts and peak equal a second-by-second count of the same calls', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 40 }), fc.integer({ min: 1_000, max: 120_000 }), (ops, durationMs) => {
      const calls = new FleetCalls(durationMs);
      const seconds = new Float64Array(Math.ceil(durationMs / 1000));
      const add = (ms: number, n: number) => {
        const s = Math.floor(ms / 1000);
        if (s >= 0 && s < seconds.length) seconds[s]! += n;
      };
      // perMs calls each ms of [from, to), second by second.
      const addRate = (from: number, to: number, perMs: number) => {
        for (let s = Math.floor(from / 1000); s * 1000 < to && s < seconds.length; s++)
          seconds[s]! += perMs * Math.max(0, Math.min(to, (s + 1) * 1000) - Math.max(from, s * 1000));
      };
      let answered = 0;
      let unfinished = 0;
      let now = 0;
      // Cancels fall due as time moves on, in order, as the runner's restarts do.
      const cancels: Array<{ at: number; cancel: () => void }> = [];
      const runDue = (until: number) => {
        cancels.sort((a, b) => a.at - b.at);
        while (cancels.length && cancels[0]!.at <= until) cancels.shift()!.cancel();
      };
      for (const o of ops) {
        now += o.dt;
        if (now >= durationMs) break;
        runDue(now);
        calls.settle(now);
        if (o.kind === 'at') {
          calls.at(now, 'Decrypt', o.n);
          add(now, o.n);
          answered += o.n;
        } else if (o.kind === 'spread') {
          const to = Math.min(durationMs, now + o.len);
          calls.spread(now, to, 'Decrypt', o.n);
          answered += o.n;
          if (to <= now) add(now, o.n);
          else addRate(now, to, o.n / (to - now));
        } else {
          const start = now;
          const perMs = o.perSecond / 1000;
          const plannedEnd = start + o.n / perMs;
          const burst = calls.burst(start, 'Decrypt', o.n, o.perSecond);
          const cancelAt = o.cancelAfter === undefined ? undefined : start + o.cancelAfter;
          const end = Math.min(plannedEnd, cancelAt ?? Infinity, durationMs);
          if (cancelAt !== undefined && cancelAt < durationMs)
            cancels.push({ at: cancelAt, cancel: () => burst.cancel(cancelAt) });
          addRate(start, end, perMs);
          answered += perMs * (end - start);
          if (plannedEnd > durationMs && (cancelAt === undefined || cancelAt >= durationMs))
            unfinished += o.n - perMs * (durationMs - start);
        }
      }
      runDue(durationMs);
      calls.finish();
      expect(calls.answered.Decrypt).toBeCloseTo(answered, 6);
      expect(calls.unfinished.Decrypt).toBeCloseTo(unfinished, 6);
      const peak = Math.max(0, ...seconds);
      expect(calls.peak.perSecond).toBeCloseTo(peak, 6);
      if (peak > 1e-9) expect(seconds[calls.peak.atSecond]).toBeCloseTo(peak, 6);
    }),
    { numRuns: 300 },
  );
});
