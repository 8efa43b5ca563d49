/** sleep for real time; models in sim/ use their virtual clock instead. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** GiveUp ends a poll at once: the condition can no longer come true (e.g. the apiserver rejected a reload). */
export class GiveUp extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GiveUp';
  }
}

/** The time a poll runs on: real by default; the sim backend passes its virtual clock. */
export interface PollClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const REAL: PollClock = { now: () => Date.now(), sleep };

export interface PollOptions {
  timeoutMs: number;
  clock?: PollClock;
  intervalMs?: number;
  /** What is being waited for, for the timeout message. */
  what: string;
  /** Checked between attempts; a thrown error ends the wait at once (e.g. the process died). */
  abortIf?: () => Promise<void> | void;
}

/**
 * poll calls `attempt` until it returns a value other than undefined, or the time is up. The timeout error says
 * what was awaited and the last reason the attempt gave. An attempt that throws GiveUp ends the poll at once.
 */
export async function poll<T>(attempt: () => Promise<T | undefined>, options: PollOptions): Promise<T> {
  const clock = options.clock ?? REAL;
  const deadline = clock.now() + options.timeoutMs;
  let last = 'no attempt finished';
  for (;;) {
    await options.abortIf?.();
    try {
      const value = await attempt();
      if (value !== undefined) return value;
      last = 'not yet';
    } catch (error) {
      if (error instanceof GiveUp) throw error;
      last = (error as Error).message;
    }
    if (clock.now() >= deadline) {
      throw new Error(
        `timed out after ${(options.timeoutMs / 1000).toFixed(0)} s waiting for ${options.what} (last: ${last})`,
      );
    }
    await clock.sleep(options.intervalMs ?? 200);
  }
}
