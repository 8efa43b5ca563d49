import { FleetCalls, type FleetMethod } from './fleet-calls.js';
import { FleetKmsV1 } from './fleet-kms-v1.js';
import { FleetKmsV2 } from './fleet-kms-v2.js';
import type { FleetKmsModel } from './fleet-model.js';
import { FLEET_DEFAULTS, scheduleOf, type FleetSpec } from './fleet-spec.js';

export type KmsVersion = 'v1' | 'v2';

/** FleetResult is what one KMS version costs the fleet over the run. */
export interface FleetResult {
  kms: KmsVersion;
  /** Calls the KMS answered, per method (rounded; rates are aggregated as expected values). */
  calls: Record<FleetMethod, number> & { total: number };
  /** Calls made while the KMS was down (not billed, not in the peak). */
  refused: Record<FleetMethod, number>;
  peakPerSecond: number;
  peakAtSecond: number;
  /** DEK seeds generated (v2) or DEKs generated (v1: one per write). */
  dekSources: number;
  /** Writes no apiserver could take (none ready: stopped, KMS check failing, write key expired). */
  failedWrites: number;
  /** Timers and events simulated one by one. */
  steps: number;
}

/**
 * runFleet models a fleet of apiservers over `durationMs` of virtual time for one KMS version. Simulated one by one:
 * starts, stops, Status polls, health probes, rotations, outages. Aggregated: writes and reads, which arrive as
 * rates split evenly over the apiservers ready to take them, and objects, counted per DEK source. Pure: no I/O,
 * no real time, no randomness.
 */
export function runFleet(
  partial: Partial<FleetSpec> & Pick<FleetSpec, 'apiservers' | 'objects' | 'durationMs'>,
  kms: KmsVersion,
): FleetResult {
  const spec: FleetSpec = { ...FLEET_DEFAULTS, ...partial };
  const calls = new FleetCalls(spec.durationMs);
  const queue = new TimerQueue();
  const model: FleetKmsModel =
    kms === 'v2'
      ? new FleetKmsV2({ spec, calls, schedule: (t, fn) => queue.push(t, fn) })
      : new FleetKmsV1({ spec, calls, schedule: (t, fn) => queue.push(t, fn) });
  const running = new Set<number>();
  let failedWrites = 0;
  for (const e of scheduleOf(spec)) {
    queue.push(e.atMs, (t) => {
      switch (e.op) {
        case 'start':
          running.add(e.apiserver);
          return model.start(e.apiserver, t);
        case 'stop':
          running.delete(e.apiserver);
          return model.stop(e.apiserver, t);
        case 'restart':
          model.stop(e.apiserver, t);
          return model.start(e.apiserver, t);
        case 'rotate':
          return model.rotate(t);
        case 'outage':
          model.setKmsUp(false, t);
          queue.push(t + e.durationMs, (end) => model.setKmsUp(true, end));
          return;
        case 'writes':
          if (model.ready(e.apiserver, t)) model.write(e.apiserver, t, t, e.count, e.fresh);
          else failedWrites += e.count;
          return;
      }
    });
  }

  // Between two steps the steady traffic flows, split evenly over the apiservers that can take it; a write key that
  // expires inside the span splits it there.
  let now = 0;
  let steps = 0;
  const flow = (until: number) => {
    const end = Math.min(until, spec.durationMs);
    while (now < end) {
      const ready = [...running].filter((i) => model.ready(i, now));
      const to = Math.min(end, ...ready.map((i) => model.readyUntil(i)));
      const span = to - now;
      const writes = (spec.writesPerSecond * span) / 1000;
      const reads = (spec.readsPerSecond * span) / 1000;
      if (ready.length === 0) failedWrites += writes;
      for (const i of ready) {
        if (writes > 0) model.write(i, now, to, writes / ready.length, false);
        if (reads > 0) model.read(i, now, to, reads / ready.length);
      }
      now = to;
    }
  };
  for (let next = queue.pop(); next && next.atMs < spec.durationMs; next = queue.pop()) {
    flow(next.atMs);
    next.fn(next.atMs);
    steps++;
  }
  flow(spec.durationMs);

  const round = (r: Record<FleetMethod, number>) =>
    ({ Status: Math.round(r.Status), Encrypt: Math.round(r.Encrypt), Decrypt: Math.round(r.Decrypt) }) as Record<
      FleetMethod,
      number
    >;
  const answered = round(calls.answered);
  const peak = calls.peak;
  return {
    kms,
    calls: { ...answered, total: answered.Status + answered.Encrypt + answered.Decrypt },
    refused: round(calls.refused),
    peakPerSecond: Math.round(peak.perSecond),
    peakAtSecond: peak.atSecond,
    dekSources: Math.round(model.dekSources),
    failedWrites: Math.round(failedWrites),
    steps,
  };
}

/** costOf prices answered calls at `pricePer10k` (a cloud KMS bills per 10,000 requests). */
export function costOf(result: FleetResult, pricePer10k: number): { total: number; withoutStatus: number } {
  return {
    total: (result.calls.total / 10_000) * pricePer10k,
    withoutStatus: ((result.calls.total - result.calls.Status) / 10_000) * pricePer10k,
  };
}

// A binary heap of timers by time, ties in insertion order (so same-instant events run as scheduled).
class TimerQueue {
  private readonly heap: Array<{ atMs: number; order: number; fn: (atMs: number) => void }> = [];
  private order = 0;

  push(atMs: number, fn: (atMs: number) => void): void {
    const h = this.heap;
    h.push({ atMs, order: this.order++, fn });
    for (let i = h.length - 1; i > 0;) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  pop(): { atMs: number; fn: (atMs: number) => void } | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      for (let i = 0; ;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let min = i;
        if (l < h.length && this.less(l, min)) min = l;
        if (r < h.length && this.less(r, min)) min = r;
        if (min === i) break;
        [h[i], h[min]] = [h[min]!, h[i]!];
        i = min;
      }
    }
    return top;
  }

  private less(a: number, b: number): boolean {
    const x = this.heap[a]!;
    const y = this.heap[b]!;
    return x.atMs < y.atMs || (x.atMs === y.atMs && x.order < y.order);
  }
}
