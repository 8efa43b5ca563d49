import { expect, test } from 'vitest';
import { startLab } from '../harness/index.js';
import { chaosHtml } from './html.js';
import { FAULT_KINDS, type FaultEvent } from './fault-kinds.js';
import { runChaos, type ChaosReport } from './run-chaos.js';
import { shrink } from './shrink.js';

const HOUR = 3_600_000;
const sim = async (
  seed: string,
  extra: Parameters<typeof runChaos>[1] extends infer O ? Partial<O> : never,
  broken = false,
) => {
  const lab = await startLab({
    backend: 'sim',
    seed,
    apiservers: 2,
    ...(broken ? { brokenPlugin: 'forgets-keys-on-restart' as const } : {}),
  });
  try {
    return await runChaos(lab, {
      seed,
      durationMs: 24 * HOUR,
      faults: FAULT_KINDS,
      thinkMs: 10_000,
      healthEveryMs: 30_000,
      ...extra,
    });
  } finally {
    await lab.close();
  }
};
const withoutWallClock = (r: ChaosReport) => JSON.stringify({ ...r, startedAt: undefined, wallMs: undefined });

test('24 h of virtual time on the sim: every invariant holds, and the same seed replays byte for byte', async () => {
  const [a, b, c] = await Promise.all([sim('replay', {}), sim('replay', {}), sim('other', {})]);
  expect(a.outcome, JSON.stringify(a.invariants.filter((i) => !i.holds))).toBe('passed');
  expect(new Set(a.faults.map((f) => f.kind)).size).toBeGreaterThanOrEqual(5);
  expect(a.operations.writes).toBeGreaterThan(10_000);
  expect(withoutWallClock(b)).toBe(withoutWallClock(a));
  expect(withoutWallClock(c)).not.toBe(withoutWallClock(a));
  // The page draws every fault and every apiserver, and holds nothing fetched from elsewhere.
  const html = chaosHtml(a);
  expect(html.match(/class="fault"/g)).toHaveLength(a.faults.length);
  for (const name of a.apiservers) expect(html).toContain(`${name} requests`);
  expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
}, 60_000);

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
  expect(served.holds).toBe(false);
  const lost = new Set(served.violations.map((v) => v.key));
  expect([...lost].every((k) => String(k).startsWith('cold-'))).toBe(true);
  expect(lost.size).toBe(10);
  const healthy = await sim('forgetful', { schedule, durationMs: 3 * HOUR });
  expect(healthy.outcome).toBe('passed'); // the same schedule on a plugin that keeps its keys

  const { schedule: smallest, runs } = await shrink(schedule, async (s) => {
    const again = await sim('forgetful', { schedule: s, durationMs: 3 * HOUR }, true);
    return again.invariants.some((i) => !i.holds && i.name === served.name);
  });
  expect(smallest.map((f) => f.kind)).toEqual(['plugin-kill']);
  expect(runs).toBeLessThan(12);
}, 120_000);
