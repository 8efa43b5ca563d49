/** The KMS methods a fleet calls; KMS v1 has no Status (its health probe is an Encrypt and a Decrypt). */
export type FleetMethod = 'Status' | 'Encrypt' | 'Decrypt';

/** Burst is a run of calls made one after another (a LIST decrypting its objects); `cancel` ends it early. */
export interface Burst {
  /** The process making the calls stopped at `atMs`: the calls it had not made yet are never made. */
  cancel(atMs: number): void;
}

interface Run {
  method: FleetMethod;
  startMs: number;
  /** When the last call would be made if nothing stops it; a cancel moves it earlier. */
  endMs: number;
  perMs: number;
  total: number;
  billed: boolean;
}

const perMethod = (): Record<FleetMethod, number> => ({ Status: 0, Encrypt: 0, Decrypt: 0 });

/**
 * FleetCalls counts KMS calls made by a whole fleet: per method, answered or refused (the KMS was down), and per
 * second of the run for the peak rate. Counts may be fractional where a rate was aggregated (expected values).
 * Only calls made inside the period are counted: a burst still running at its end leaves the rest as unfinished.
 * Times are recorded in order: nothing is recorded before the last `settle`.
 */
export class FleetCalls {
  readonly answered = perMethod();
  readonly refused = perMethod();
  /** Calls of bursts started in the period and not made by its end (see `finish`). */
  readonly unfinished = perMethod();
  /** Bursts still running at the end of the period. */
  unfinishedBursts = 0;
  private readonly seconds: number;
  private readonly meter = new PeakMeter();
  private runs: Run[] = [];

  constructor(private readonly durationMs: number) {
    this.seconds = Math.max(1, Math.ceil(durationMs / 1000));
  }

  /** at records `n` calls at one instant. */
  at(timeMs: number, method: FleetMethod, n = 1, ok = true): void {
    (ok ? this.answered : this.refused)[method] += n;
    if (ok) this.bucket(Math.floor(timeMs / 1000), n);
  }

  /**
   * burst starts `n` calls made one after another from `timeMs` at `perSecond`. They are counted as they are made:
   * a cancel (the process stopped) or the end of the period ends the count.
   */
  burst(timeMs: number, method: FleetMethod, n: number, perSecond: number): Burst {
    const run: Run = {
      method,
      startMs: timeMs,
      endMs: timeMs + (n / perSecond) * 1000,
      perMs: perSecond / 1000,
      total: n,
      billed: false,
    };
    if (n > 0) {
      this.runs.push(run);
      this.meter.addRun(run);
    }
    return {
      cancel: (atMs) => {
        if (run.billed || atMs >= run.endMs) return;
        run.endMs = Math.max(run.startMs, atMs);
        this.bill(run);
      },
    };
  }

  /** spread records `n` calls made evenly over [fromMs, toMs) (a steady write rate). */
  spread(fromMs: number, toMs: number, method: FleetMethod, n: number): void {
    if (n <= 0) return;
    this.answered[method] += n;
    if (toMs <= fromMs) return this.bucket(Math.floor(fromMs / 1000), n);
    const rate = n / (toMs - fromMs);
    for (let t = fromMs; t < toMs;) {
      const second = Math.floor(t / 1000);
      const end = Math.min(toMs, (second + 1) * 1000);
      this.bucket(second, rate * (end - t));
      t = end;
    }
  }

  /** settle: nothing more will be recorded before `timeMs`, so the seconds before it are final. */
  settle(timeMs: number): void {
    this.meter.settle(Math.min(this.seconds, Math.floor(timeMs / 1000)));
  }

  /** finish ends the period: bursts are counted up to its end, what they had left is unfinished. */
  finish(): void {
    for (const run of this.runs) {
      if (run.billed) continue;
      if (run.endMs > this.durationMs) {
        const made = Math.min(run.total, run.perMs * Math.max(0, this.durationMs - run.startMs));
        this.unfinished[run.method] += run.total - made;
        this.unfinishedBursts++;
        run.endMs = this.durationMs;
      }
      this.bill(run);
    }
    this.runs = [];
    this.meter.settle(this.seconds);
  }

  /** peak is the most calls answered in any one second of the run, and when (final after `finish`). */
  get peak(): { perSecond: number; atSecond: number } {
    return { perSecond: this.meter.peak, atSecond: this.meter.peakAt };
  }

  private bill(run: Run): void {
    run.billed = true;
    this.answered[run.method] += Math.min(run.total, run.perMs * (run.endMs - run.startMs));
  }

  private bucket(second: number, n: number): void {
    if (second >= 0 && second < this.seconds) this.meter.add(second, n);
  }
}

/**
 * PeakMeter keeps per-second call counts only for the seconds not yet final (a window that moves forward as time
 * is settled), and the fullest final second: memory stays small however long the period. Bursts are summed into
 * each second as it is settled, so a cancel shortens them until then.
 */
class PeakMeter {
  peak = 0;
  peakAt = 0;
  private base = 0;
  private top = -1;
  private buffer = new Float64Array(4096);
  private runs: Run[] = [];

  add(second: number, n: number): void {
    // Late records land in the first open second (the runner records in order; this only guards rounding).
    const s = Math.max(second, this.base);
    if (s - this.base >= this.buffer.length) this.grow(s - this.base + 1);
    this.buffer[s % this.buffer.length]! += n;
    if (s > this.top) this.top = s;
  }

  addRun(run: Run): void {
    this.runs.push(run);
  }

  settle(upTo: number): void {
    for (let s = this.base; s < upTo; s++) {
      if (s > this.top && this.runs.length === 0) break;
      const i = s % this.buffer.length;
      let calls = this.buffer[i]!;
      this.buffer[i] = 0;
      if (this.runs.length > 0) {
        const from = s * 1000;
        const to = from + 1000;
        for (const run of this.runs) {
          const overlap = Math.min(to, run.endMs) - Math.max(from, run.startMs);
          if (overlap > 0) calls += run.perMs * overlap;
        }
        if (this.runs.some((run) => run.endMs <= to)) this.runs = this.runs.filter((run) => run.endMs > to);
      }
      if (calls > this.peak) {
        this.peak = calls;
        this.peakAt = s;
      }
    }
    this.base = Math.max(this.base, upTo);
  }

  // A larger ring, the open seconds kept at their places (index = second modulo the length).
  private grow(needed: number): void {
    let length = this.buffer.length;
    while (length < needed) length *= 2;
    const next = new Float64Array(length);
    for (let s = this.base; s <= this.top; s++) next[s % length] = this.buffer[s % this.buffer.length]!;
    this.buffer = next;
  }
}
