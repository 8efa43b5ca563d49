/** The KMS methods a fleet calls; KMS v1 has no Status (its health probe is an Encrypt and a Decrypt). */
export type FleetMethod = 'Status' | 'Encrypt' | 'Decrypt';

/**
 * CallSink is where the calls a fleet makes at its plugins' sockets are passed on: the cloud KMS behind the plugins
 * (`PluginCloudCalls`), which turns each Status into what the plugin's style asks the cloud.
 */
export interface CallSink {
  at(timeMs: number, method: FleetMethod, n: number, ok: boolean, apiserver?: number): void;
  burst(timeMs: number, method: FleetMethod, n: number, perSecond: number): Burst;
  spread(fromMs: number, toMs: number, method: FleetMethod, n: number): void;
  settle(timeMs: number): void;
  finish(): void;
}

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
  /** In the peak meter: counted in its running rate, and taken out again. */
  started?: boolean;
  left?: boolean;
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
  /** Bursts not yet counted (a cancel counts one at once; the rest are counted at the end). */
  private readonly open = new Set<Run>();

  /** Every call is passed on to `behind` too (the cloud behind the plugins), when given. */
  constructor(
    private readonly durationMs: number,
    private readonly behind?: CallSink,
  ) {
    this.seconds = Math.max(1, Math.ceil(durationMs / 1000));
  }

  /** at records `n` calls at one instant; `apiserver` says whose plugin took them (its Status cache is its own). */
  at(timeMs: number, method: FleetMethod, n = 1, ok = true, apiserver?: number): void {
    (ok ? this.answered : this.refused)[method] += n;
    if (ok) this.bucket(Math.floor(timeMs / 1000), n);
    this.behind?.at(timeMs, method, n, ok, apiserver);
  }

  /**
   * burst starts `n` calls made one after another from `timeMs` at `perSecond`. They are counted as they are made:
   * a cancel (the process stopped) or the end of the period ends the count.
   */
  burst(timeMs: number, method: FleetMethod, n: number, perSecond: number): Burst {
    const behind = this.behind?.burst(timeMs, method, n, perSecond);
    const run: Run = {
      method,
      startMs: timeMs,
      endMs: timeMs + (n / perSecond) * 1000,
      perMs: perSecond / 1000,
      total: n,
      billed: false,
    };
    if (n > 0) {
      this.open.add(run);
      this.meter.addRun(run);
    }
    return {
      cancel: (atMs) => {
        behind?.cancel(atMs);
        if (run.billed || atMs >= run.endMs) return;
        run.endMs = Math.max(run.startMs, atMs);
        this.meter.moveEnd(run);
        this.bill(run);
      },
    };
  }

  /** spread records `n` calls made evenly over [fromMs, toMs) (a steady write rate). */
  spread(fromMs: number, toMs: number, method: FleetMethod, n: number): void {
    if (n <= 0) return;
    this.behind?.spread(fromMs, toMs, method, n);
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
    this.behind?.settle(timeMs);
    this.meter.settle(Math.min(this.seconds, Math.floor(timeMs / 1000)));
  }

  /** finish ends the period: bursts are counted up to its end, what they had left is unfinished. */
  finish(): void {
    this.behind?.finish();
    for (const run of this.open) {
      if (run.endMs > this.durationMs) {
        const made = Math.min(run.total, run.perMs * Math.max(0, this.durationMs - run.startMs));
        this.unfinished[run.method] += run.total - made;
        this.unfinishedBursts++;
        run.endMs = this.durationMs;
        this.meter.moveEnd(run);
      }
      this.bill(run);
    }
    this.meter.settle(this.seconds);
  }

  /** peak is the most calls answered in any one second of the run, and when (final after `finish`). */
  get peak(): { perSecond: number; atSecond: number } {
    return { perSecond: this.meter.peak, atSecond: this.meter.peakAt };
  }

  private bill(run: Run): void {
    run.billed = true;
    this.open.delete(run);
    this.answered[run.method] += Math.min(run.total, run.perMs * (run.endMs - run.startMs));
  }

  private bucket(second: number, n: number): void {
    if (second >= 0 && second < this.seconds) this.meter.add(second, n);
  }
}

/**
 * PeakMeter keeps per-second call counts only for the seconds not yet final (a window that moves forward as time
 * is settled), and the fullest final second: memory stays small however long the period. Bursts are not spread
 * into seconds: the meter keeps the rate of those running and adds it to each second as it is settled, working
 * only at the seconds where a burst starts or ends (or where calls were recorded), so a thousand LISTs running for
 * a day cost no more than one. A cancel moves a burst's end earlier.
 */
class PeakMeter {
  peak = 0;
  peakAt = 0;
  private base = 0;
  private top = -1;
  private buffer = new Float64Array(4096);
  /** Bursts by start, not yet counted in `rate`. */
  private readonly starting = new RunHeap();
  /** Bursts counted in `rate`, by end (an entry whose run has moved its end is stale: skipped). */
  private readonly ending = new RunHeap();
  /** Calls per ms of the bursts running through the whole of the second being settled. */
  private rate = 0;

  add(second: number, n: number): void {
    // Late records land in the first open second (the runner records in order; this only guards rounding).
    const s = Math.max(second, this.base);
    if (s - this.base >= this.buffer.length) this.grow(s - this.base + 1);
    this.buffer[s % this.buffer.length]! += n;
    if (s > this.top) this.top = s;
  }

  addRun(run: Run): void {
    this.starting.push(run, run.startMs);
  }

  moveEnd(run: Run): void {
    // Not started yet: it joins with its new end when it starts.
    if (run.started && !run.left) this.ending.push(run, run.endMs);
  }

  settle(upTo: number): void {
    for (let s = this.base; s < upTo;) {
      const from = s * 1000;
      const to = from + 1000;
      // A stretch of seconds with no recorded calls and no burst starting or ending: each holds the same count.
      const quiet = Math.min(upTo, this.nextBoundarySecond(), s > this.top ? upTo : s);
      if (quiet > s) {
        this.consider(this.rate * 1000, s);
        s = quiet;
        continue;
      }
      const i = s % this.buffer.length;
      let calls = this.buffer[i]!;
      this.buffer[i] = 0;
      // Bursts that start in this second join; those that end in it leave; either way they count for their part.
      for (let r = this.starting.peek(); r && r.startMs < to; r = this.starting.peek()) {
        this.starting.pop();
        if (r.endMs <= r.startMs) continue;
        calls -= r.perMs * Math.max(0, r.startMs - from);
        this.rate += r.perMs;
        r.started = true;
        this.ending.push(r, r.endMs);
      }
      calls += this.rate * 1000;
      for (let e = this.ending.peekEntry(); e && e.at < to; e = this.ending.peekEntry()) {
        this.ending.pop();
        if (e.run.endMs !== e.at || e.run.left) continue;
        e.run.left = true;
        calls -= e.run.perMs * (to - Math.max(from, e.at));
        this.rate -= e.run.perMs;
      }
      if (this.rate < 1e-12) this.rate = 0;
      this.consider(calls, s);
      s++;
    }
    this.base = Math.max(this.base, upTo);
  }

  private consider(calls: number, second: number): void {
    if (calls > this.peak) {
      this.peak = calls;
      this.peakAt = second;
    }
  }

  // The first second in which a burst starts or ends.
  private nextBoundarySecond(): number {
    const start = this.starting.peek()?.startMs ?? Infinity;
    const end = this.ending.peekEntry()?.at ?? Infinity;
    return Math.floor(Math.min(start, end) / 1000);
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

/** A binary min-heap of bursts by a time: their start, or their end when pushed. */
class RunHeap {
  private readonly entries: Array<{ at: number; run: Run }> = [];

  push(run: Run, at: number): void {
    const h = this.entries;
    h.push({ at, run });
    for (let i = h.length - 1; i > 0;) {
      const parent = (i - 1) >> 1;
      if (h[parent]!.at <= h[i]!.at) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  peek(): Run | undefined {
    return this.entries[0]?.run;
  }

  peekEntry(): { at: number; run: Run } | undefined {
    return this.entries[0];
  }

  pop(): void {
    const h = this.entries;
    const last = h.pop();
    if (h.length === 0 || !last) return;
    h[0] = last;
    for (let i = 0; ;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let min = i;
      if (l < h.length && h[l]!.at < h[min]!.at) min = l;
      if (r < h.length && h[r]!.at < h[min]!.at) min = r;
      if (min === i) break;
      [h[i], h[min]] = [h[min]!, h[i]!];
      i = min;
    }
  }
}
