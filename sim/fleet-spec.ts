import { DEFAULT_PLUGIN_STYLE, type PluginStyle } from './fleet-plugin.js';

/** FleetEvent is one thing that happens to the fleet at a moment of virtual time (ms from the start). */
export type FleetEvent =
  | { atMs: number; op: 'start' | 'stop' | 'restart'; apiserver: number }
  | { atMs: number; op: 'rotate' }
  | { atMs: number; op: 'outage'; durationMs: number }
  /** `count` Secrets written through one apiserver: new ones (`fresh`) or rewrites of existing ones. */
  | { atMs: number; op: 'writes'; apiserver: number; count: number; fresh: boolean };

/**
 * FleetSpec is a fleet and its day: how many apiservers (all started at 0), how many Secrets are stored at the start,
 * the steady traffic, and the events. `rotateEveryMs`, `restartEveryMs` and `outages` become events; `events` adds
 * explicit ones (tests replay a real lab's sequence this way).
 */
export interface FleetSpec {
  apiservers: number;
  /** Secrets in etcd at the start, written before the run with one DEK seed (v2) or one DEK each (v1). */
  objects: number;
  durationMs: number;
  /** Fleet-wide rewrites of existing Secrets per second, spread over the ready apiservers. */
  writesPerSecond: number;
  /** Fleet-wide reads that go to etcd (GET without resourceVersion) per second. */
  readsPerSecond: number;
  /** The KMS key_id changes this often (0: never). */
  rotateEveryMs: number;
  /** Each apiserver restarts this often, staggered evenly across the fleet (0: never). */
  restartEveryMs: number;
  outages: Array<{ atMs: number; durationMs: number }>;
  events: FleetEvent[];
  /** How often something hits /readyz or /healthz on each apiserver (kubeadm's readiness probe: every 1 s; 0: never). */
  healthCheckEveryMs: number;
  /** One KMS round trip; a LIST decodes its objects one after another at 1000 / this per second. */
  kmsLatencyMs: number;
  /** KMS v1 DEK cache entries per apiserver (the EncryptionConfiguration's cachesize; default 1000). */
  v1CacheSize: number;
  /**
   * Objects the watch cache decodes at once. kube-apiserver 1.37 turns ConcurrentWatchObjectDecode on (10 at once);
   * 1.34–1.36 leave it off (1). The KMS v2 DEK cache has no single-flight, so the first objects decoded together all
   * miss it: a LIST then makes up to this many Decrypts before its first one returns.
   */
  listDecodeConcurrency: number;
  /**
   * The plugins' style: what a Status costs each at its cloud KMS (calls, and how long it reuses an answer). The
   * cloud figures and the cost follow it; the calls at the sockets do not.
   */
  plugin: PluginStyle;
}

export const FLEET_DEFAULTS: Omit<FleetSpec, 'apiservers' | 'objects' | 'durationMs'> = {
  writesPerSecond: 0,
  readsPerSecond: 0,
  rotateEveryMs: 0,
  restartEveryMs: 0,
  outages: [],
  events: [],
  healthCheckEveryMs: 1_000,
  kmsLatencyMs: 5,
  v1CacheSize: 1000,
  listDecodeConcurrency: 10,
  plugin: DEFAULT_PLUGIN_STYLE,
};

/**
 * EventSeries is one source of events: once (`every` 0) or again every `every` ms from `first` while inside the
 * period. `rank` orders events of one instant as they were listed: starts, rotations, restarts, outages, events.
 */
export interface EventSeries {
  rank: number;
  first: number;
  every: number;
  event: (atMs: number) => FleetEvent;
}

/** eventSeries lists the spec's events as series, so a runner can schedule each next one when the last has run. */
export function eventSeries(spec: FleetSpec): EventSeries[] {
  const n = spec.apiservers;
  const series: EventSeries[] = [];
  for (let i = 0; i < n; i++)
    series.push({ rank: i, first: 0, every: 0, event: (atMs) => ({ atMs, op: 'start', apiserver: i }) });
  if (spec.rotateEveryMs > 0)
    series.push({
      rank: n,
      first: spec.rotateEveryMs,
      every: spec.rotateEveryMs,
      event: (atMs) => ({ atMs, op: 'rotate' }),
    });
  if (spec.restartEveryMs > 0) {
    for (let i = 0; i < n; i++) {
      const first = ((i + 1) * spec.restartEveryMs) / n;
      series.push({
        rank: n + 1 + i,
        first,
        every: spec.restartEveryMs,
        event: (atMs) => ({ atMs, op: 'restart', apiserver: i }),
      });
    }
  }
  spec.outages.forEach((o, k) =>
    series.push({
      rank: 2 * n + 1 + k,
      first: o.atMs,
      every: 0,
      event: (atMs) => ({ atMs, op: 'outage', durationMs: o.durationMs }),
    }),
  );
  spec.events.forEach((e, j) =>
    series.push({ rank: 2 * n + 1 + spec.outages.length + j, first: e.atMs, every: 0, event: () => e }),
  );
  return series;
}

/** scheduleOf turns a spec into its events in time order (ties keep the order they were listed in). */
export function scheduleOf(spec: FleetSpec): FleetEvent[] {
  const events: Array<{ e: FleetEvent; rank: number }> = [];
  for (const s of eventSeries(spec)) {
    if (s.every === 0) events.push({ e: s.event(s.first), rank: s.rank });
    else for (let t = s.first; t < spec.durationMs; t += s.every) events.push({ e: s.event(t), rank: s.rank });
  }
  return events.sort((a, b) => a.e.atMs - b.e.atMs || a.rank - b.rank).map((x) => x.e);
}

const MINUTE = 60_000;
const DAY = 86_400_000;

/**
 * FLEET_LIMITS bound what one run models, so that any accepted run answers within about a minute on 2 cores (with
 * progress on the way) in little memory: each apiserver's Status polls and health probes are simulated one by one,
 * about 10,000 timer steps per apiserver and day for the two KMS versions together, plus work per rotation and
 * restart for every apiserver.
 */
export const FLEET_LIMITS = {
  /** A cluster's apiservers (model one cluster of a fleet of clusters and multiply: they share only the KMS). */
  apiservers: 100,
  objects: 1_000_000_000,
  durationMs: 366 * DAY,
  /** apiservers × days. */
  apiserverDays: 3_660,
  /**
   * The shortest rotation and restart period. Each one reaches every apiserver (a new seed, a new LIST), so their
   * cost grows with the square of the apiservers.
   */
  minEveryMs: 10 * MINUTE,
  minHealthCheckEveryMs: 100,
  writesPerSecond: 1_000_000,
  readsPerSecond: 10_000_000,
  minKmsLatencyMs: 0.1,
  maxKmsLatencyMs: MINUTE,
  v1CacheSize: 1_000_000_000,
  listDecodeConcurrency: 1_000,
  /** Cloud calls of each method a plugin makes for one Status. */
  statusCalls: 10,
  statusCacheMs: DAY,
  outages: 1_000,
} as const;

/**
 * fleetSpecProblems lists what in a spec is outside FLEET_LIMITS or does not fit its period (an outage that starts
 * after it ends, outages that overlap); empty when the spec can be run. `name` says what to call each field in the
 * messages (the CLI names its flags).
 */
export function fleetSpecProblems(spec: FleetSpec, name: (field: keyof FleetSpec) => string = String): string[] {
  const L = FLEET_LIMITS;
  const problems: string[] = [];
  const within = (field: keyof FleetSpec, value: number, min: number, max: number, integer = false) => {
    if (!Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value)))
      problems.push(
        `${name(field)} ${value}: must be ${integer ? 'a whole number ' : ''}from ${min} to ${max.toLocaleString('en-US')}`,
      );
  };
  within('apiservers', spec.apiservers, 1, L.apiservers, true);
  within('objects', spec.objects, 0, L.objects, true);
  if (!(spec.durationMs > 0) || spec.durationMs > L.durationMs)
    problems.push(
      `${name('durationMs')} ${human(spec.durationMs)}: must be above 0 and at most ${human(L.durationMs)}`,
    );
  const apiserverDays = (spec.apiservers * spec.durationMs) / DAY;
  if (apiserverDays > L.apiserverDays)
    problems.push(
      `${name('apiservers')} × ${name('durationMs')} is ${Math.round(apiserverDays).toLocaleString('en-US')} apiserver-days; the most is ${L.apiserverDays.toLocaleString('en-US')} (10 apiservers for a year, 100 for 36 days): each apiserver's polls and probes are simulated one by one`,
    );
  for (const field of ['rotateEveryMs', 'restartEveryMs'] as const) {
    if (spec[field] !== 0 && !(spec[field] >= L.minEveryMs))
      problems.push(`${name(field)} ${human(spec[field])}: the shortest is ${human(L.minEveryMs)}`);
  }
  if (spec.healthCheckEveryMs !== 0 && !(spec.healthCheckEveryMs >= L.minHealthCheckEveryMs))
    problems.push(
      `${name('healthCheckEveryMs')} ${human(spec.healthCheckEveryMs)}: the shortest is ${human(L.minHealthCheckEveryMs)} (or 0 for none)`,
    );
  within('writesPerSecond', spec.writesPerSecond, 0, L.writesPerSecond);
  within('readsPerSecond', spec.readsPerSecond, 0, L.readsPerSecond);
  within('kmsLatencyMs', spec.kmsLatencyMs, L.minKmsLatencyMs, L.maxKmsLatencyMs);
  within('v1CacheSize', spec.v1CacheSize, 1, L.v1CacheSize, true);
  within('listDecodeConcurrency', spec.listDecodeConcurrency, 1, L.listDecodeConcurrency, true);
  const p = spec.plugin;
  for (const [what, v] of [
    ['Encrypts', p.encrypt],
    ['Decrypts', p.decrypt],
  ] as const)
    if (!Number.isInteger(v) || v < 0 || v > L.statusCalls)
      problems.push(`${name('plugin')} ${p.name}: ${v} ${what} per Status; give 0 to ${L.statusCalls}`);
  if (!(p.cacheMs >= 0) || p.cacheMs > L.statusCacheMs)
    problems.push(
      `${name('plugin')} ${p.name}: a Status cache of ${human(p.cacheMs)}; give 0 to ${human(L.statusCacheMs)}`,
    );
  if (spec.outages.length > L.outages) problems.push(`${spec.outages.length} outages: the most is ${L.outages}`);
  const outages = [...spec.outages].sort((a, b) => a.atMs - b.atMs);
  outages.forEach((o, k) => {
    const shown = `${name('outages')} ${human(o.atMs)}+${human(o.durationMs)}`;
    if (!(o.atMs >= 0) || !(o.atMs < spec.durationMs))
      problems.push(`${shown}: starts outside the period (0 to ${human(spec.durationMs)}); give a start inside it`);
    if (!(o.durationMs > 0)) problems.push(`${shown}: lasts no time; give a length above 0`);
    const before = outages[k - 1];
    if (before && o.atMs < before.atMs + before.durationMs)
      problems.push(
        `${shown} overlaps ${human(before.atMs)}+${human(before.durationMs)}: give each outage its own time`,
      );
  });
  return problems;
}

// Milliseconds the short way (the sim has no dependency to format them): 90000 → 1m30s, 86400000 → 1d.
function human(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms < 1000) return `${ms}ms`;
  let rest = Math.round(ms);
  let out = '';
  for (const [unit, size] of [
    ['d', DAY],
    ['h', 3_600_000],
    ['m', MINUTE],
    ['s', 1000],
  ] as const) {
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return rest > 0 ? `${out}${rest}ms` : out;
}
