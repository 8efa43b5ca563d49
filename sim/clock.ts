/**
 * VirtualClock is simulated time for the models: nothing waits for real. Two kinds of things are scheduled:
 * - timers (`every`, `at`): background work such as the apiserver's Status loop. They fire as time passes but never
 *   make time pass on their own;
 * - sleepers (`sleep`, `timeout`): someone is waiting. While anyone sleeps and the event loop has nothing else to do,
 *   the clock jumps to the next due event (a discrete-event simulation), so a 3-minute wait takes microseconds.
 * Events at the same instant run in the order they were scheduled, so runs are deterministic.
 */
/** SimClock is what the models need of time; VirtualClock is the usual one, a real-time one works too. */
export interface SimClock {
  now(): number;
  sleep(ms: number): Promise<void>;
  /** A cancellable sleep, for racing a call against a deadline. */
  timeout(ms: number): { done: Promise<void>; cancel: () => void };
  /** Runs fn at an absolute time; returns a cancel function. */
  at(when: number, fn: () => void): () => void;
  every(ms: number, fn: () => void): () => void;
}

/** realTime is SimClock on wall time, to run a model against real programs (the byte-compatibility tests). */
export const realTime: SimClock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  timeout(ms) {
    let timer: NodeJS.Timeout | undefined;
    const done = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
    return { done, cancel: () => clearTimeout(timer) };
  },
  at(when, fn) {
    const timer = setTimeout(fn, Math.max(0, when - Date.now()));
    return () => clearTimeout(timer);
  },
  every(ms, fn) {
    const timer = setInterval(fn, ms);
    return () => clearInterval(timer);
  },
};

interface Scheduled {
  at: number;
  seq: number;
  fire: () => void;
  sleeper: boolean;
  cancelled?: boolean;
  fired?: boolean;
}

export class VirtualClock implements SimClock {
  private current: number;
  private seq = 0;
  private readonly queue: Scheduled[] = [];
  private sleepers = 0;
  private driving = false;

  constructor(epochMs = Date.UTC(2026, 0, 1)) {
    this.current = epochMs;
  }

  now(): number {
    return this.current;
  }

  /** sleep resolves when virtual time has advanced by `ms`. */
  sleep(ms: number): Promise<void> {
    return this.timeout(ms).done;
  }

  /** timeout is a cancellable sleep, for racing a call against a deadline without leaving the sleeper behind. */
  timeout(ms: number): { done: Promise<void>; cancel: () => void } {
    let resolve!: () => void;
    const done = new Promise<void>((r) => (resolve = r));
    const entry = this.push(this.current + Math.max(0, ms), () => resolve(), true);
    this.drive();
    return {
      done,
      cancel: () => {
        // Cancelling a timeout that already fired changes nothing: its sleeper was counted off when it fired.
        if (entry.cancelled || entry.fired) return;
        entry.cancelled = true;
        this.sleepers--;
      },
    };
  }

  /** at runs `fn` at an absolute virtual time (a background timer). Returns a cancel function. */
  at(when: number, fn: () => void): () => void {
    const entry = this.push(Math.max(when, this.current), fn, false);
    return () => {
      entry.cancelled = true;
    };
  }

  /** every runs `fn` each `ms`, first after `ms`, until cancelled. */
  every(ms: number, fn: () => void): () => void {
    let cancel = () => undefined as void;
    let stopped = false;
    const tick = () => {
      if (stopped) return;
      fn();
      cancel = this.at(this.current + ms, tick);
    };
    cancel = this.at(this.current + ms, tick);
    return () => {
      stopped = true;
      cancel();
    };
  }

  private push(at: number, fire: () => void, sleeper: boolean): Scheduled {
    const entry: Scheduled = { at, seq: this.seq++, fire, sleeper };
    if (sleeper) this.sleepers++;
    // Sorted insert: queues stay short (a handful of loops and waits per apiserver).
    let i = this.queue.length;
    while (
      i > 0 &&
      (this.queue[i - 1]!.at > at || (this.queue[i - 1]!.at === at && this.queue[i - 1]!.seq > entry.seq))
    )
      i--;
    this.queue.splice(i, 0, entry);
    return entry;
  }

  // Advances while someone sleeps and the event loop is otherwise idle (every promise chain is waiting on us).
  private drive(): void {
    if (this.driving) return;
    this.driving = true;
    const step = () => {
      if (this.sleepers === 0) {
        this.driving = false;
        return;
      }
      const next = this.queue.shift();
      if (!next) {
        this.driving = false;
        return;
      }
      if (!next.cancelled) {
        this.current = Math.max(this.current, next.at);
        if (next.sleeper) this.sleepers--;
        next.fired = true;
        next.fire();
      }
      setImmediate(step);
    };
    setImmediate(step);
  }
}
