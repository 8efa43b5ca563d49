import { FleetCalls, type FleetMethod } from './fleet-calls.js';
import { FleetKmsV1 } from './fleet-kms-v1.js';
import { FleetKmsV2 } from './fleet-kms-v2.js';
import type { FleetKmsModel } from './fleet-model.js';
import { PluginCloudCalls, type PluginStyle } from './fleet-plugin.js';
import { eventSeries, FLEET_DEFAULTS, fleetSpecProblems, type FleetEvent, type FleetSpec } from './fleet-spec.js';

export type KmsVersion = 'v1' | 'v2';

/** FleetResult is what one KMS version costs the fleet over the run. */
export interface FleetResult {
  kms: KmsVersion;
  /** Calls the KMS answered inside the period, per method (rounded; rates are aggregated as expected values). */
  calls: Record<FleetMethod, number> & { total: number };
  /** Calls made while the KMS was down (not billed, not in the peak). */
  refused: Record<FleetMethod, number>;
  /**
   * Work started in the period and not done by its end: watch-cache LISTs still decrypting (one call after
   * another, each taking the KMS latency), and the calls they had left — the backlog, not billed.
   */
  unfinished: { lists: number; calls: Record<FleetMethod, number> };
  peakPerSecond: number;
  peakAtSecond: number;
  /** DEK seeds generated (v2) or DEKs generated (v1: one per write). */
  dekSources: number;
  /** Writes no apiserver could take (none ready: stopped, KMS check failing, write key expired). */
  failedWrites: number;
  /** Timers and events simulated one by one. */
  steps: number;
  /**
   * What the plugins asked their cloud KMS (the billed requests): every Encrypt and Decrypt above, and for each
   * Status what the plugin's style costs. KMS v1 has no Status: its calls are the cloud's.
   */
  cloud: {
    plugin: Pick<PluginStyle, 'name' | 'encrypt' | 'decrypt' | 'cacheMs'>;
    calls: { Encrypt: number; Decrypt: number; total: number };
    /** Of `calls.total`, the calls made to answer Status. */
    forStatus: number;
    refused: number;
    peakPerSecond: number;
    peakAtSecond: number;
  };
}

/** FleetProgress is how far a run has got in virtual time, reported every so many steps. */
export interface FleetProgress {
  kms: KmsVersion;
  atMs: number;
  durationMs: number;
  steps: number;
}

/** Steps between two progress reports: small enough for a caller to stay responsive, large enough to cost nothing. */
const STEPS_PER_PROGRESS = 20_000;
// The longest span traffic flows in one piece: it bounds the per-second counts kept open and the error of taking a
// span's rewrites at once.
const MAX_SPAN_MS = 60_000;

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
  const run = fleetRun(partial, kms);
  for (;;) {
    const next = run.next();
    if (next.done) return next.value;
  }
}

/**
 * fleetRun is runFleet one piece at a time: it yields its progress every so many steps, so a caller can keep an
 * event loop turning, show progress and stop a long run; its return value is the result.
 */
export function* fleetRun(
  partial: Partial<FleetSpec> & Pick<FleetSpec, 'apiservers' | 'objects' | 'durationMs'>,
  kms: KmsVersion,
): Generator<FleetProgress, FleetResult> {
  const spec: FleetSpec = { ...FLEET_DEFAULTS, ...partial };
  const problems = fleetSpecProblems(spec);
  if (problems.length > 0) throw new RangeError(`the fleet cannot be modelled: ${problems.join('; ')}`);
  const cloud = new PluginCloudCalls(spec.durationMs, spec.plugin);
  const calls = new FleetCalls(spec.durationMs, cloud);
  const queue = new TimerQueue();
  const running = new Set<number>();
  let failedWrites = 0;

  // Traffic flows lazily: up to the moment the model is about to change what decides it (see `touch`), or at
  // least every MAX_SPAN_MS. Between two such moments it is split evenly over the apiservers that can take it; a
  // write key that expires inside a span splits it there.
  let now = 0;
  let flowing = false;
  const flow = (until: number) => {
    const end = Math.min(until, spec.durationMs);
    if (flowing || end <= now) return;
    flowing = true;
    while (now < end) {
      const ready = [...running].filter((i) => model.ready(i, now));
      let to = end;
      for (const i of ready) to = Math.min(to, model.readyUntil(i));
      const span = to - now;
      const writes = (spec.writesPerSecond * span) / 1000;
      const reads = (spec.readsPerSecond * span) / 1000;
      if (ready.length === 0) failedWrites += writes;
      if (writes > 0 && ready.length > 0) model.write(ready, now, to, writes / ready.length, false);
      if (reads > 0 && ready.length > 0) model.read(ready, now, to, reads / ready.length);
      now = to;
    }
    flowing = false;
    calls.settle(now);
  };
  const context = { spec, calls, schedule: (t: number, fn: (atMs: number) => void) => queue.push(t, fn), touch: flow };
  const model: FleetKmsModel = kms === 'v2' ? new FleetKmsV2(context) : new FleetKmsV1(context);
  const handle = (e: FleetEvent, t: number) => {
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
        flow(t);
        if (model.ready(e.apiserver, t)) model.write([e.apiserver], t, t, e.count, e.fresh);
        else failedWrites += e.count;
        return;
    }
  };
  // Each series schedules its next event when one has run: a year of hourly restarts is one timer per apiserver at
  // a time, not all of them at once. Ranks keep the events of one instant in the order they were listed.
  for (const series of eventSeries(spec)) {
    const fire = (t: number) => {
      handle(series.event(t), t);
      if (series.every > 0 && t + series.every < spec.durationMs) queue.push(t + series.every, fire, series.rank);
    };
    queue.push(series.first, fire, series.rank);
  }

  let steps = 0;
  for (let next = queue.pop(); next && next.atMs < spec.durationMs; next = queue.pop()) {
    if (next.atMs - now >= MAX_SPAN_MS) flow(next.atMs);
    next.fn(next.atMs);
    if (++steps % STEPS_PER_PROGRESS === 0) yield { kms, atMs: next.atMs, durationMs: spec.durationMs, steps };
  }
  flow(spec.durationMs);
  calls.finish();

  const round = (r: Record<FleetMethod, number>) =>
    ({ Status: Math.round(r.Status), Encrypt: Math.round(r.Encrypt), Decrypt: Math.round(r.Decrypt) }) as Record<
      FleetMethod,
      number
    >;
  const answered = round(calls.answered);
  // A LIST cut by the end of the period made a fractional number of calls: the unfinished part is what the rounded
  // whole lacks, so answered + unfinished is the LIST's total (each rounded on its own, both halves of .5 went up).
  const made = (m: FleetMethod) => Math.round(calls.answered[m] + calls.unfinished[m]) - answered[m];
  const unfinished = { Status: made('Status'), Encrypt: made('Encrypt'), Decrypt: made('Decrypt') };
  const peak = calls.peak;
  const billed = round(cloud.calls.answered);
  const refusedAtCloud = round(cloud.calls.refused);
  return {
    kms,
    calls: { ...answered, total: answered.Status + answered.Encrypt + answered.Decrypt },
    refused: round(calls.refused),
    unfinished: { lists: calls.unfinishedBursts, calls: unfinished },
    peakPerSecond: Math.round(peak.perSecond),
    peakAtSecond: peak.atSecond,
    dekSources: Math.round(model.dekSources),
    failedWrites: Math.round(failedWrites),
    steps,
    cloud: {
      plugin: {
        name: spec.plugin.name,
        encrypt: spec.plugin.encrypt,
        decrypt: spec.plugin.decrypt,
        cacheMs: spec.plugin.cacheMs,
      },
      calls: { Encrypt: billed.Encrypt, Decrypt: billed.Decrypt, total: billed.Encrypt + billed.Decrypt },
      forStatus: Math.round(cloud.fromStatus),
      refused: refusedAtCloud.Encrypt + refusedAtCloud.Decrypt,
      peakPerSecond: Math.round(cloud.calls.peak.perSecond),
      peakAtSecond: cloud.calls.peak.atSecond,
    },
  };
}

/**
 * costOf prices the calls the cloud KMS answered at `pricePer10k` (a cloud KMS bills per 10,000 requests), with and
 * without those the plugins made to answer Status.
 */
export function costOf(result: FleetResult, pricePer10k: number): { total: number; withoutStatus: number } {
  const { total } = result.cloud.calls;
  return {
    total: (total / 10_000) * pricePer10k,
    withoutStatus: ((total - result.cloud.forStatus) / 10_000) * pricePer10k,
  };
}

// A binary heap of timers by time, then rank (the spec's events of one instant in their listed order, before the
// model's own timers), then insertion order.
class TimerQueue {
  private readonly heap: Array<{ atMs: number; rank: number; order: number; fn: (atMs: number) => void }> = [];
  private order = 0;

  push(atMs: number, fn: (atMs: number) => void, rank = Infinity): void {
    const h = this.heap;
    h.push({ atMs, rank, order: this.order++, fn });
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
    return x.atMs < y.atMs || (x.atMs === y.atMs && (x.rank < y.rank || (x.rank === y.rank && x.order < y.order)));
  }
}
