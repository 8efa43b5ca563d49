/** CALLS_PER_TURN: how many lab calls the sim answers before it lets the event loop turn once. */
export const CALLS_PER_TURN = 32;

/**
 * eventLoopTurns makes a sim lab give the event loop a turn every CALLS_PER_TURN calls. A model answers from memory,
 * so a scenario writing thousands of Secrets would otherwise run on promise callbacks alone, and nothing else —
 * Ctrl-C, SIGTERM, a deadline's timer — would run until it ended. Counting calls (not time) keeps a seed's replay
 * exact: the turns fall at the same calls in every run.
 */
export function eventLoopTurns(): () => Promise<void> {
  let calls = 0;
  return async () => {
    if (++calls % CALLS_PER_TURN === 0) await new Promise<void>((resolve) => setImmediate(resolve));
  };
}

/** withTurns is `api` with a turn of the event loop taken (now and then) before each of its methods. */
export function withTurns<T extends object>(api: T, turn: () => Promise<void>): T {
  return new Proxy(api, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        await turn();
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}
