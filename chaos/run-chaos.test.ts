import { describe, expect, test } from 'vitest';
import { startLab, type Lab, type LabApi } from '../harness/index.js';
import { sabotage } from '../test/support/sabotage.js';
import { chaosHtml } from './html.js';
import type { FaultEvent } from './fault-kinds.js';
import { ChaosInterrupted, runChaos, type ChaosOptions, type ChaosReport } from './run-chaos.js';
import { shrink } from './shrink.js';

const HOUR = 3_600_000;
const simLab = (seed: string, broken = false, apiservers = 2) =>
  startLab({
    backend: 'sim',
    seed,
    apiservers,
    ...(broken ? { brokenPlugin: 'forgets-keys-on-restart' as const } : {}),
  });
const sim = async (seed: string, extra: Partial<ChaosOptions>, broken = false, view = (lab: Lab) => lab) => {
  const lab = await simLab(seed, broken);
  try {
    return await runChaos(view(lab), {
      seed,
      durationMs: 24 * HOUR,
      thinkMs: 10_000,
      healthEveryMs: 30_000,
      ...extra,
    });
  } finally {
    await lab.close();
  }
};
const withoutWallClock = (r: ChaosReport) => JSON.stringify({ ...r, startedAt: undefined, wallMs: undefined });
const verdicts = (r: ChaosReport) => Object.fromEntries(r.invariants.map((i) => [i.name, i.verdict]));

test('24 h of virtual time on the sim: every invariant judged and holding; the same seed replays byte for byte', async () => {
  const a = await sim('replay', {});
  expect(a.outcome, JSON.stringify(a.invariants.filter((i) => !i.holds))).toBe('passed');
  expect(new Set(Object.values(verdicts(a)))).toEqual(new Set(['holds']));
  expect(new Set(a.faults.map((f) => f.kind)).size).toBeGreaterThanOrEqual(5);
  expect(a.operations.writes).toBeGreaterThan(10_000);
  // Replay, on a quarter of the day: the same seed gives the same report, another seed another one.
  const [b, c, d] = await Promise.all([
    sim('replay', { durationMs: 6 * HOUR }),
    sim('replay', { durationMs: 6 * HOUR }),
    sim('other', { durationMs: 6 * HOUR }),
  ]);
  expect(withoutWallClock(c)).toBe(withoutWallClock(b));
  expect(withoutWallClock(d)).not.toBe(withoutWallClock(b));
  // The page draws every fault and every apiserver, and holds nothing fetched from elsewhere.
  const html = chaosHtml(a);
  expect(html.match(/class="fault"/g)).toHaveLength(a.faults.length);
  for (const name of a.apiservers) expect(html).toContain(`${name} requests`);
  expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
}, 120_000);

test('a plugin that forgets its keys on restart is caught, naming the lost Secrets; the schedule shrinks to the kill', async () => {
  const schedule: FaultEvent[] = [
    { at: 0.5 * HOUR, kind: 'kms-latency', durationMs: 600_000 },
    { at: 1 * HOUR, kind: 'key-rotate', durationMs: 0 },
    { at: 1.5 * HOUR, kind: 'plugin-kill', durationMs: 0 },
    { at: 2 * HOUR, kind: 'healthz-lie', durationMs: 600_000 },
  ];
  const r = await sim('forgetful', { schedule, durationMs: 3 * HOUR }, true);
  expect(r.outcome).toBe('failed');
  const served = r.invariants.find((i) => i.name === 'every-apiserver-serves-every-secret')!;
  expect(served.verdict).toBe('violated');
  const lost = new Set(served.anomalies.map((v) => v.key));
  expect([...lost].every((k) => String(k).startsWith('cold-'))).toBe(true);
  expect(lost.size).toBe(10);
  const healthy = await sim('forgetful', { schedule, durationMs: 3 * HOUR });
  expect(healthy.outcome).toBe('passed'); // the same schedule on a plugin that keeps its keys

  const { schedule: smallest, runs } = await shrink(schedule, async (s) => {
    const again = await sim('forgetful', { schedule: s, durationMs: 3 * HOUR }, true);
    return again.invariants.some((i) => i.verdict === 'violated' && i.name === served.name);
  });
  expect(smallest.map((f) => f.kind)).toEqual(['plugin-kill']);
  expect(runs).toBeLessThan(12);
}, 120_000);

describe('health, in the run length CI uses (2 min, health sampled every 2 s)', () => {
  const ci: Partial<ChaosOptions> = { durationMs: 120_000, thinkMs: 200, healthEveryMs: 2_000 };
  // An apiserver whose /healthz/kms-providers always answers 200, whatever its probe says.
  const alwaysHealthy = (lab: Lab) =>
    sabotage(lab, {
      apiserver: (a) => ({
        api: new Proxy(a.api, {
          get: (api, p) =>
            p === 'request'
              ? async (method: string, path: string) =>
                  path.startsWith('/healthz/kms-providers') ? { status: 200, body: 'ok' } : api.request(method, path)
              : Reflect.get(api, p),
        }) as LabApi,
      }),
    });

  test('the nemesis always draws a plugin failure long enough to judge; a correct apiserver is judged and holds', async () => {
    for (const seed of ['ci', 'c1', 'c2']) {
      const r = await sim(seed, ci);
      const health = r.invariants.find((i) => i.name === 'health-agrees-with-plugin')!;
      expect(health.verdict, `${seed}: ${JSON.stringify(health)}`).toBe('holds');
      expect(r.outcome).toBe('passed');
    }
  }, 60_000);

  test('an apiserver that never reports unhealthy fails it, named per apiserver', async () => {
    const r = await sim('ci', ci, false, alwaysHealthy);
    const health = r.invariants.find((i) => i.name === 'health-agrees-with-plugin')!;
    expect(health.verdict).toBe('violated');
    expect(new Set(health.anomalies.map((a) => `${a.name} ${a.apiserver}`))).toEqual(
      new Set(['unhealthy-not-reported kube-apiserver-0', 'unhealthy-not-reported kube-apiserver-1']),
    );
    expect(r.outcome).toBe('failed');
  }, 60_000);

  test('a run that gives health nothing to judge says so: inconclusive, not passed', async () => {
    const r = await sim('ci', { ...ci, faults: ['kms-latency', 'apiserver-restart'] }, false, alwaysHealthy);
    const health = r.invariants.find((i) => i.name === 'health-agrees-with-plugin')!;
    expect(health.verdict).toBe('undecided');
    expect(health.undecided).toMatch(/too short to judge/);
    expect(r.outcome).toBe('inconclusive');
  }, 60_000);
});

describe('a run it cannot carry out is refused before it starts', () => {
  const refused = async (extra: Partial<ChaosOptions>, message: RegExp, apiservers = 2) => {
    const lab = await simLab('refused', false, apiservers);
    try {
      await expect(runChaos(lab, { seed: 's', durationMs: HOUR, ...extra })).rejects.toMatchObject({
        code: 'usage',
        message: expect.stringMatching(message),
      });
    } finally {
      await lab.close();
    }
  };

  test.each<[string, Partial<ChaosOptions>, RegExp]>([
    [
      'a duration past the model limit',
      { durationMs: 9_999_999 * 24 * HOUR },
      /--duration .* the most is 7d of virtual time/,
    ],
    [
      'a schedule event far past the end',
      { schedule: [{ at: 1e15, kind: 'kms-error', durationMs: 1000 }] },
      /--schedule: kms-error@1000000000000000\+1000 ends after the run/,
    ],
    [
      'an apiserver the lab does not have',
      { schedule: [{ at: 1000, kind: 'apiserver-restart', durationMs: 0, target: 5 }] },
      /targets apiserver 5, but the lab has 2/,
    ],
    [
      'a fault the backend cannot do, asked for by name',
      { faults: ['etcd-kill'], requireFaults: true },
      /--faults: this lab cannot take etcd-kill: the sim backend has no etcd process to kill/,
    ],
    [
      'a fault the backend cannot do, in a schedule',
      { schedule: [{ at: 1000, kind: 'etcd-kill', durationMs: 1000 }] },
      /etcd-kill@1000\+1000 cannot run on this lab/,
    ],
  ])('%s', async (_, extra, message) => refused(extra, message));
});

test('a fault that could not be applied fails the run, naming the fault', async () => {
  const r = await sim(
    'unapplied',
    { durationMs: HOUR, schedule: [{ at: 600_000, kind: 'key-rotate', durationMs: 0 }] },
    false,
    (lab) => sabotage(lab, { kms: { rotate: async () => Promise.reject(new Error('rotate hook exited 1')) } }),
  );
  expect(r.outcome).toBe('failed');
  expect(r.invariants.find((i) => i.name === 'faults-applied')!.anomalies).toMatchObject([
    { name: 'fault-not-applied', kind: 'key-rotate', error: 'rotate hook exited 1' },
  ]);
});

test('a long model run obeys an interrupt within 2 s, and reports progress on the way', async () => {
  const lab = await simLab('interrupt');
  const interrupt = new AbortController();
  const progress: number[] = [];
  try {
    const run = runChaos(lab, {
      seed: 'interrupt',
      durationMs: 7 * 24 * HOUR,
      thinkMs: 10_000,
      healthEveryMs: 30_000,
      signal: interrupt.signal,
      onEvent: (e) => void (e.type === 'progress' && progress.push(e.at)),
    });
    await expect.poll(() => progress.length, { timeout: 20_000 }).toBeGreaterThan(3);
    const asked = Date.now();
    interrupt.abort();
    await expect(run).rejects.toBeInstanceOf(ChaosInterrupted);
    expect(Date.now() - asked).toBeLessThan(2_000);
    expect(progress.at(-1)!).toBeLessThan(7 * 24 * HOUR);
  } finally {
    await lab.close();
  }
}, 60_000);
