import { FAULT_KINDS, type FaultEvent, type FaultKind } from './fault-kinds.js';

/**
 * shrink finds a smaller schedule that still violates an invariant (delta debugging: try halves, then
 * complements, then finer pieces), within a budget of runs. `violates` replays a schedule on the sim — same seed,
 * so the same workload — and says whether an invariant broke.
 */
export async function shrink(
  events: FaultEvent[],
  violates: (schedule: FaultEvent[]) => Promise<boolean>,
  budget = 48,
): Promise<{ schedule: FaultEvent[]; runs: number }> {
  let runs = 0;
  const attempt = async (s: FaultEvent[]) => {
    runs++;
    return violates(s);
  };
  if (await attempt([])) return { schedule: [], runs }; // the faults were not needed at all
  let current = events;
  let n = 2;
  while (current.length >= 2 && runs < budget) {
    const size = Math.ceil(current.length / n);
    const chunks = Array.from({ length: Math.ceil(current.length / size) }, (_, i) =>
      current.slice(i * size, (i + 1) * size),
    );
    let next: FaultEvent[] | undefined;
    for (const chunk of chunks) {
      if (runs >= budget) break;
      if (await attempt(chunk)) {
        next = chunk;
        break;
      }
    }
    if (!next && chunks.length > 2) {
      for (let i = 0; i < chunks.length && runs < budget; i++) {
        const complement = chunks.filter((_, j) => j !== i).flat();
        if (await attempt(complement)) {
          next = complement;
          break;
        }
      }
    }
    if (next) {
      current = next;
      n = Math.max(n - 1, 2);
    } else if (n >= current.length) break;
    else n = Math.min(n * 2, current.length);
  }
  return { schedule: current, runs };
}

/** encodeSchedule writes a schedule for the command line: `kind@at[+duration][#target],…` (ms). */
export function encodeSchedule(events: FaultEvent[]): string {
  return events
    .map(
      (e) =>
        `${e.kind}@${e.at}${e.durationMs ? `+${e.durationMs}` : ''}${e.target === undefined ? '' : `#${e.target}`}`,
    )
    .join(',');
}

/** parseSchedule reads what encodeSchedule wrote; a bad entry is an error that names it. */
export function parseSchedule(text: string): FaultEvent[] {
  if (text.trim() === '') return [];
  return text.split(',').map((part) => {
    const m = /^([a-z-]+)@(\d+)(?:\+(\d+))?(?:#(\d+))?$/.exec(part.trim());
    if (!m || !(FAULT_KINDS as readonly string[]).includes(m[1]!)) {
      throw new Error(
        `"${part}" is not a fault: write kind@atMs[+durationMs][#apiserver], kind one of ${FAULT_KINDS.join(', ')}`,
      );
    }
    return {
      kind: m[1] as FaultKind,
      at: Number(m[2]),
      durationMs: Number(m[3] ?? 0),
      ...(m[4] === undefined ? {} : { target: Number(m[4]) }),
    };
  });
}
