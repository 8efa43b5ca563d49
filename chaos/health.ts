import type { Anomaly } from './history/index.js';
import { KMS_TIMING, type PluginAnswer, type PluginOutage } from './plugin-view.js';

/** HealthSample is one answer of an apiserver's `/healthz/kms-providers`: asked at `t`, answered at `end`. */
export interface HealthSample {
  t: number;
  end: number;
  apiserver: string;
  ok: boolean;
}

const MARGIN_MS = 1_000;
// How long a sample must be after the plugin's last healthy answer before its apiserver may no longer serve it from
// the probe's cache.
export const UNHEALTHY_JUDGED_AFTER_MS = KMS_TIMING.probeCacheOkMs + MARGIN_MS;
// How long the plugin must have answered only healthy before an apiserver must say so: its cached failure, a call
// that timed out, and gRPC's reconnect backoff to a plugin that went away are all over by then.
export const HEALTHY_JUDGED_AFTER_MS =
  KMS_TIMING.reconnectMaxMs + KMS_TIMING.probeCacheFailedMs + KMS_TIMING.callTimeoutMs;

/**
 * decidableWindowMs is the shortest plugin failure in which every apiserver sampled every `sampleEveryMs` must be
 * seen unhealthy: the probe's 20 s success cache, a sample interval to come round, the call's timeout, and slack.
 */
export const decidableWindowMs = (sampleEveryMs: number) =>
  UNHEALTHY_JUDGED_AFTER_MS + 2 * sampleEveryMs + KMS_TIMING.callTimeoutMs + 5_000;

export interface HealthJudgement {
  anomalies: Anomaly[];
  /** Per apiserver: samples that had to be unhealthy, and samples that had to be healthy. */
  judged: Record<string, { unhealthy: number; healthy: number }>;
  longestPluginFailureMs: number;
  /** Why the run cannot say whether health followed the plugin (no sample had to be unhealthy). */
  undecided?: string;
}

/**
 * judgeHealth holds each apiserver's health samples against what the plugin answered. A sample must be unhealthy
 * when the plugin has answered no Status healthy for longer than the probe's success cache and was failing
 * throughout the sample (every call around it failed, or its socket was away); it must be healthy when the plugin
 * answered only healthy for longer than every cache, timeout and reconnect delay. Samples in between are not judged.
 */
export function judgeHealth(
  samples: readonly HealthSample[],
  answers: readonly PluginAnswer[],
  outages: readonly PluginOutage[],
  o: { t0: number; apiservers: readonly string[] },
): HealthJudgement {
  const byStart = [...answers].sort((a, b) => a.at - b.at);
  const starts = byStart.map((a) => a.at);
  const okAnswered = byStart
    .filter((a) => a.health !== 'unhealthy')
    .map((a) => a.answeredAt)
    .sort((a, b) => a - b);
  const judged: HealthJudgement['judged'] = Object.fromEntries(
    o.apiservers.map((a) => [a, { unhealthy: 0, healthy: 0 }]),
  );
  const flagged: Array<{ s: HealthSample; name: 'unhealthy-not-reported' | 'healthy-not-reported'; said: string }> = [];
  for (const s of samples) {
    const count = (judged[s.apiserver] ??= { unhealthy: 0, healthy: 0 });
    const failing = pluginFailing(s, byStart, starts, okAnswered, outages);
    if (failing) {
      count.unhealthy++;
      if (s.ok) flagged.push({ s, name: 'unhealthy-not-reported', said: failing });
    } else if (pluginHealthy(s, byStart, starts, outages)) {
      count.healthy++;
      if (!s.ok) flagged.push({ s, name: 'healthy-not-reported', said: 'every Status healthy' });
    }
  }
  const anomalies = group(flagged, o.t0, okAnswered);
  const longest = longestFailure(byStart, outages);
  const blind = o.apiservers.filter((a) => judged[a]!.unhealthy === 0);
  return {
    anomalies,
    judged,
    longestPluginFailureMs: longest,
    ...(blind.length && anomalies.length === 0
      ? {
          undecided: `too short to judge ${blind.join(', ')}: no sample came ${UNHEALTHY_JUDGED_AFTER_MS / 1000} s after the plugin's last healthy Status while it still failed (its longest failure here: ${Math.round(longest / 1000)} s)`,
        }
      : {}),
  };
}

// Why the plugin was certainly failing for the whole of this sample, past every apiserver's success cache; or
// undefined when it may not have been.
function pluginFailing(
  s: HealthSample,
  byStart: readonly PluginAnswer[],
  starts: readonly number[],
  okAnswered: readonly number[],
  outages: readonly PluginOutage[],
): string | undefined {
  const lastOk = okAnswered[upperBound(okAnswered, s.end) - 1] ?? -Infinity;
  if (s.t - lastOk < UNHEALTHY_JUDGED_AFTER_MS) return undefined;
  const away = outages.find((w) => w.from <= s.t && s.end <= w.to);
  if (away) return away.why;
  // The calls that began nearest before and after the sample failed, and none between them succeeded: the probe's
  // own call, if it reached the plugin, failed too.
  const i = upperBound(starts, s.t);
  const before = byStart[i - 1];
  let j = i;
  while (j < byStart.length && byStart[j]!.at < s.end) {
    if (byStart[j]!.health !== 'unhealthy') return undefined;
    j++;
  }
  const after = byStart[j];
  return before?.health === 'unhealthy' && after?.health === 'unhealthy' ? before.why : undefined;
}

function pluginHealthy(
  s: HealthSample,
  byStart: readonly PluginAnswer[],
  starts: readonly number[],
  outages: readonly PluginOutage[],
): boolean {
  const from = s.t - HEALTHY_JUDGED_AFTER_MS;
  if (outages.some((w) => w.from < s.end && w.to > from)) return false;
  let healthyNear = false;
  for (let i = upperBound(starts, from - 1); i < byStart.length; i++) {
    const a = byStart[i]!;
    if (a.at > s.end + MARGIN_MS) break;
    if (a.health !== 'healthy') return false;
    if (a.method === 'Status' && a.at >= s.t - 30_000) healthyNear = true;
  }
  return healthyNear;
}

// Consecutive flagged samples of one apiserver are one anomaly.
function group(
  flagged: Array<{ s: HealthSample; name: Anomaly['name']; said: string }>,
  t0: number,
  okAnswered: readonly number[],
): Anomaly[] {
  const out: Anomaly[] = [];
  let open: (Anomaly & { last: number }) | undefined;
  for (const f of [...flagged].sort((a, b) => a.s.apiserver.localeCompare(b.s.apiserver) || a.s.t - b.s.t)) {
    if (open && open.apiserver === f.s.apiserver && open.name === f.name) {
      open.until = f.s.t - t0;
      open.samples = (open.samples as number) + 1;
      continue;
    }
    if (open) out.push(strip(open));
    const lastOk = okAnswered[upperBound(okAnswered, f.s.end) - 1];
    open = {
      name: f.name,
      apiserver: f.s.apiserver,
      at: f.s.t - t0,
      until: f.s.t - t0,
      samples: 1,
      apiserverSaid: f.s.ok ? 'healthy' : 'unhealthy',
      pluginSaid: f.said,
      ...(f.name === 'unhealthy-not-reported' && lastOk !== undefined ? { lastHealthyStatusAt: lastOk - t0 } : {}),
      last: f.s.t,
    };
  }
  if (open) out.push(strip(open));
  return out;
}

const strip = ({ last: _, ...a }: Anomaly & { last: number }): Anomaly => a;

function longestFailure(byStart: readonly PluginAnswer[], outages: readonly PluginOutage[]): number {
  let longest = Math.max(0, ...outages.map((w) => w.to - w.from));
  let first: number | undefined;
  for (const a of byStart) {
    if (a.health === 'unhealthy') {
      first ??= a.at;
      longest = Math.max(longest, a.at - first);
    } else first = undefined;
  }
  return longest;
}

// The index of the first element greater than x (sorted ascending).
function upperBound(sorted: readonly number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
