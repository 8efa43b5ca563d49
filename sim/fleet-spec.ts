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
};

/** scheduleOf turns a spec into its events in time order (ties keep the order they were made in). */
export function scheduleOf(spec: FleetSpec): FleetEvent[] {
  const events: FleetEvent[] = [];
  for (let i = 0; i < spec.apiservers; i++) events.push({ atMs: 0, op: 'start', apiserver: i });
  if (spec.rotateEveryMs > 0) {
    for (let t = spec.rotateEveryMs; t < spec.durationMs; t += spec.rotateEveryMs)
      events.push({ atMs: t, op: 'rotate' });
  }
  if (spec.restartEveryMs > 0) {
    for (let i = 0; i < spec.apiservers; i++) {
      const offset = ((i + 1) * spec.restartEveryMs) / spec.apiservers;
      for (let t = offset; t < spec.durationMs; t += spec.restartEveryMs) {
        events.push({ atMs: t, op: 'restart', apiserver: i });
      }
    }
  }
  for (const o of spec.outages) events.push({ atMs: o.atMs, op: 'outage', durationMs: o.durationMs });
  events.push(...spec.events);
  return events
    .map((e, order) => ({ e, order }))
    .sort((a, b) => a.e.atMs - b.e.atMs || a.order - b.order)
    .map((x) => x.e);
}
