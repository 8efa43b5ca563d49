import { formatDuration } from '../harness/common/duration.js';
import { KmslabError } from '../harness/common/errors.js';
import type { Lab } from '../harness/lab.js';
import { KINDS, type FaultEvent } from './fault-kinds.js';

const HOUR = 3_600_000;

/**
 * The most a chaos run may ask for; past them the run is refused before it starts (a usage error naming the limit).
 * The history is kept whole for the checker, so memory grows with the run: on the sim a day of virtual time is
 * about 33,000 requests, a week about 230,000 (see docs/chaos.md for the measured time and memory); a local run
 * makes about 20 requests a second.
 */
export const CHAOS_LIMITS = {
  apiservers: { min: 1, max: 5 },
  maxDurationMs: { sim: 7 * 24 * HOUR, real: 12 * HOUR },
  maxScheduleEvents: 1_000,
} as const;

/** checkDuration refuses a run longer than its backend's limit. */
export function checkDuration(backend: Lab['backend'], durationMs: number): void {
  const max = backend === 'sim' ? CHAOS_LIMITS.maxDurationMs.sim : CHAOS_LIMITS.maxDurationMs.real;
  if (!(durationMs > 0) || durationMs > max) {
    throw new KmslabError(
      'usage',
      `--duration ${formatDuration(durationMs)} is out of range on ${backend}: the most is ${formatDuration(max)}${backend === 'sim' ? ' of virtual time' : ''}`,
    );
  }
}

/** checkApiservers refuses an apiserver count outside 1–5. */
export function checkApiservers(n: number): void {
  const { min, max } = CHAOS_LIMITS.apiservers;
  if (!Number.isInteger(n) || n < min || n > max)
    throw new KmslabError('usage', `--apiservers ${n} is out of range: chaos runs ${min} to ${max} apiservers`);
}

/**
 * checkSchedule refuses a schedule the run could not carry out as written: an event that ends after the run, an
 * apiserver index the lab does not have, a window on an instant fault or none on a window fault, a kind this lab
 * cannot take. It returns the events in time order.
 */
export function checkSchedule(
  schedule: readonly FaultEvent[],
  o: { durationMs: number; apiservers: number; cannot: (e: FaultEvent) => string | undefined },
): FaultEvent[] {
  const bad = (e: FaultEvent, why: string) =>
    new KmslabError('usage', `--schedule: ${e.kind}@${e.at}${e.durationMs ? `+${e.durationMs}` : ''} ${why}`);
  if (schedule.length > CHAOS_LIMITS.maxScheduleEvents)
    throw new KmslabError(
      'usage',
      `--schedule has ${schedule.length} events: the most is ${CHAOS_LIMITS.maxScheduleEvents}`,
    );
  for (const e of schedule) {
    if (e.at + e.durationMs > o.durationMs)
      throw bad(e, `ends after the run (--duration ${formatDuration(o.durationMs)} = ${o.durationMs} ms)`);
    if (KINDS[e.kind].windowed && e.durationMs <= 0) throw bad(e, 'needs a window: write kind@atMs+durationMs');
    if (!KINDS[e.kind].windowed && e.durationMs > 0) throw bad(e, 'happens at an instant: drop +durationMs');
    if (e.target !== undefined && e.kind !== 'apiserver-restart') throw bad(e, 'takes no #apiserver');
    if (e.target !== undefined && e.target >= o.apiservers)
      throw bad(e, `targets apiserver ${e.target}, but the lab has ${o.apiservers} (0 to ${o.apiservers - 1})`);
    const why = o.cannot(e);
    if (why) throw bad(e, `cannot run on this lab: ${why}`);
  }
  return [...schedule].sort((a, b) => a.at - b.at);
}
