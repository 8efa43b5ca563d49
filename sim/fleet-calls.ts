/** The KMS methods a fleet calls; KMS v1 has no Status (its health probe is an Encrypt and a Decrypt). */
export type FleetMethod = 'Status' | 'Encrypt' | 'Decrypt';

/**
 * FleetCalls counts KMS calls made by a whole fleet: per method, answered or refused (the KMS was down), and per
 * second of the run for the peak rate. Counts may be fractional where a rate was aggregated (expected values).
 */
export class FleetCalls {
  readonly answered: Record<FleetMethod, number> = { Status: 0, Encrypt: 0, Decrypt: 0 };
  readonly refused: Record<FleetMethod, number> = { Status: 0, Encrypt: 0, Decrypt: 0 };
  private readonly perSecond: Float64Array;

  constructor(durationMs: number) {
    this.perSecond = new Float64Array(Math.max(1, Math.ceil(durationMs / 1000)));
  }

  /** at records `n` calls at one instant. */
  at(timeMs: number, method: FleetMethod, n = 1, ok = true): void {
    (ok ? this.answered : this.refused)[method] += n;
    if (ok) this.bucket(Math.floor(timeMs / 1000), n);
  }

  /** burst records `n` calls made one after another from `timeMs` at `perSecond` (a LIST decoding its objects). */
  burst(timeMs: number, method: FleetMethod, n: number, perSecond: number): void {
    this.answered[method] += n;
    let second = Math.floor(timeMs / 1000);
    let left = n;
    // The first second is partial.
    let room = perSecond * (1 - (timeMs / 1000 - second));
    while (left > 0 && second < this.perSecond.length) {
      const here = Math.min(left, room);
      this.bucket(second, here);
      left -= here;
      second++;
      room = perSecond;
    }
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

  /** peak is the most calls answered in any one second of the run, and when. */
  get peak(): { perSecond: number; atSecond: number } {
    let best = 0;
    let at = 0;
    for (let i = 0; i < this.perSecond.length; i++) {
      if (this.perSecond[i]! > best) {
        best = this.perSecond[i]!;
        at = i;
      }
    }
    return { perSecond: best, atSecond: at };
  }

  private bucket(second: number, n: number): void {
    if (second >= 0 && second < this.perSecond.length) this.perSecond[second]! += n;
  }
}
