import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  decidableWindowMs,
  HEALTHY_JUDGED_AFTER_MS,
  judgeHealth,
  UNHEALTHY_JUDGED_AFTER_MS,
  type HealthSample,
} from './health.js';
import { KMS_TIMING, type PluginAnswer, type PluginOutage } from './plugin-view.js';

// ---- a plugin with failure windows, and apiservers whose KMS probe works as kube-apiserver's does ----
//
// The probe caches a result 20 s after success and 3 s after failure; a call the plugin does not answer in time
// fails at the 3 s timeout; while its socket is away nothing reaches it. Each apiserver also polls Status on its own
// (every 60 s when healthy, 10 s when not). Its health endpoint answers from the same probe.

type Failure = 'error' | 'hang' | 'healthz' | 'socket';
interface Window {
  from: number;
  to: number;
  kind: Failure;
}

const windowArb = fc.record({
  gap: fc.integer({ min: 5_000, max: 200_000 }),
  length: fc.integer({ min: 1_000, max: 90_000 }),
  kind: fc.constantFrom<Failure>('error', 'hang', 'healthz', 'socket'),
});
const runArb = fc.record({
  windows: fc.array(windowArb, { maxLength: 5 }),
  sampleEveryMs: fc.constantFrom(2_000, 5_000, 30_000),
  offsets: fc.tuple(fc.integer({ min: 0, max: 1_999 }), fc.integer({ min: 0, max: 1_999 })),
});

type Behaviour = 'honest' | 'always-healthy' | 'stays-red';

interface Run {
  windows: Array<{ gap: number; length: number; kind: Failure }>;
  sampleEveryMs: number;
  offsets: [number, number];
}

function simulate(run: Run, behaviour: Behaviour) {
  const windows: Window[] = [];
  let t = 0;
  for (const w of run.windows) {
    windows.push({ from: t + w.gap, to: t + w.gap + w.length, kind: w.kind });
    t += w.gap + w.length;
  }
  const end = t + 400_000;
  const failureAt = (x: number) => windows.find((w) => w.from <= x && x < w.to);
  const answers: PluginAnswer[] = [];
  const outages: PluginOutage[] = windows
    .filter((w) => w.kind === 'socket')
    .map((w) => ({ from: w.from, to: w.to, why: 'socket away' }));
  // One Status call at x: what the plugin answered (if it was reached) and what the probe makes of it.
  const call = (x: number): { ok: boolean; at: number } => {
    const f = failureAt(x);
    const timeout = KMS_TIMING.callTimeoutMs;
    if (f?.kind === 'socket') return { ok: false, at: x + timeout };
    if (f?.kind === 'hang') {
      answers.push({ method: 'Status', at: x, answeredAt: x + timeout, health: 'unhealthy', why: 'hang' });
      return { ok: false, at: x + timeout };
    }
    const healthy = !f;
    answers.push({
      method: 'Status',
      at: x,
      answeredAt: x + 5,
      health: healthy ? 'healthy' : 'unhealthy',
      why: f?.kind,
    });
    return { ok: healthy, at: x + 5 };
  };
  const samples: HealthSample[] = [];
  const turnedRed = new Set<string>();
  ['a0', 'a1'].forEach((name, n) => {
    let cache = { received: -Infinity, ok: true };
    let everRed = false;
    const probe = (x: number) => {
      const ttl = cache.ok ? KMS_TIMING.probeCacheOkMs : KMS_TIMING.probeCacheFailedMs;
      if (x - cache.received < ttl) return { ok: cache.ok, at: x + 1 };
      const r = call(x);
      cache = { received: r.at, ok: r.ok };
      return r;
    };
    // Interleave the apiserver's own poll loop with the health samples, in time order.
    let poll = 60_000;
    for (let x = run.offsets[n]!; x < end; x += run.sampleEveryMs) {
      while (poll < x) {
        const r = probe(poll);
        poll = r.at + (r.ok ? 60_000 : 10_000);
      }
      const r = probe(x);
      everRed ||= !r.ok;
      if (everRed) turnedRed.add(name);
      const said = behaviour === 'always-healthy' ? true : behaviour === 'stays-red' && everRed ? false : r.ok;
      samples.push({ t: x, end: r.at, apiserver: name, ok: said });
    }
  });
  answers.sort((a, b) => a.at - b.at);
  return { samples, answers, outages, windows, turnedRed };
}

const judge = (s: ReturnType<typeof simulate>) =>
  judgeHealth(s.samples, s.answers, s.outages, { t0: 0, apiservers: ['a0', 'a1'] });

describe('health-agrees-with-plugin, judged against what the plugin answered', () => {
  test('an apiserver whose probe caches as kube-apiserver does is never flagged', () => {
    fc.assert(
      fc.property(runArb, (run) => {
        expect(judge(simulate(run, 'honest')).anomalies).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  test('unhealthy-not-reported: one that never says unhealthy is flagged whenever a failure lasts a decidable window', () => {
    let decidable = 0;
    fc.assert(
      fc.property(runArb, (run) => {
        const s = simulate(run, 'always-healthy');
        const long = s.windows.some((w) => w.to - w.from >= decidableWindowMs(run.sampleEveryMs));
        const flagged = new Set(
          judge(s)
            .anomalies.filter((a) => a.name === 'unhealthy-not-reported')
            .map((a) => a.apiserver),
        );
        if (long) {
          decidable++;
          expect([...flagged].sort()).toEqual(['a0', 'a1']);
        }
      }),
      { numRuns: 300 },
    );
    expect(decidable).toBeGreaterThan(50);
  });

  test('healthy-not-reported: one that stays red after a failure is flagged once the plugin is long healthy again', () => {
    let decidable = 0;
    fc.assert(
      fc.property(runArb, (run) => {
        const s = simulate(run, 'stays-red');
        fc.pre(s.turnedRed.size > 0);
        decidable++;
        // Each run ends with 400 s of a healthy plugin: past every cache and reconnect delay.
        const flagged = judge(s)
          .anomalies.filter((a) => a.name === 'healthy-not-reported')
          .map((a) => a.apiserver);
        expect(flagged.sort()).toEqual([...s.turnedRed].sort());
      }),
      { numRuns: 200 },
    );
    expect(decidable).toBeGreaterThan(50);
  });

  test('an apiserver never judged while the plugin failed leaves the invariant undecided, never passed', () => {
    fc.assert(
      fc.property(runArb, fc.constantFrom<Behaviour>('honest', 'always-healthy'), (run, behaviour) => {
        const h = judge(simulate(run, behaviour));
        const blind = ['a0', 'a1'].filter((a) => h.judged[a]!.unhealthy === 0);
        if (h.anomalies.length === 0 && blind.length)
          expect(h.undecided).toContain(`too short to judge ${blind.join(', ')}`);
        else expect(h.undecided).toBeUndefined();
      }),
      { numRuns: 300 },
    );
    expect(judge(simulate({ windows: [], sampleEveryMs: 2_000, offsets: [0, 0] }, 'always-healthy')).undecided).toMatch(
      /too short to judge a0, a1/,
    );
  });

  test('the bounds follow the apiserver: 21 s past the last healthy Status; 150 s of healthy answers', () => {
    expect(UNHEALTHY_JUDGED_AFTER_MS).toBe(21_000);
    expect(HEALTHY_JUDGED_AFTER_MS).toBe(150_000);
    expect(decidableWindowMs(2_000)).toBe(33_000);
  });
});
