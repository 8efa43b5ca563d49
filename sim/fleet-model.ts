import { KMS_V2_TIMING } from './apiserver/kms-v2-provider.js';
import type { FleetCalls } from './fleet-calls.js';
import type { FleetSpec } from './fleet-spec.js';

/** Schedule runs `fn` at a moment of virtual time (the fleet runner keeps one queue for every timer). */
export type Schedule = (atMs: number, fn: (atMs: number) => void) => void;

/**
 * FleetKmsModel is one KMS version's apiserver behaviour at fleet scale: what each apiserver asks the KMS when it
 * starts, stops, polls, is probed, writes and reads. Traffic arrives already split per apiserver, as amounts over an
 * interval (expected values, possibly fractional); starts, stops, polls, probes and rotations are simulated one by one.
 */
export interface FleetKmsModel {
  readonly calls: FleetCalls;
  start(apiserver: number, atMs: number): void;
  stop(apiserver: number, atMs: number): void;
  /** rotate: the KMS's key_id changes now; apiservers learn it from their next Status (v2) or never need to (v1). */
  rotate(atMs: number): void;
  setKmsUp(up: boolean, atMs: number): void;
  /** ready says whether an apiserver takes writes now (running, with a usable write key, its KMS check passing). */
  ready(apiserver: number, atMs: number): boolean;
  /** readyUntil is when a ready apiserver stops taking writes if nothing happens first (its write key expires). */
  readyUntil(apiserver: number): number;
  /** write: each of these apiservers takes `count` writes over the interval (all at once: a span costs O(apiservers)). */
  write(apiservers: number[], fromMs: number, toMs: number, count: number, fresh: boolean): void;
  /** read: each of these apiservers serves `count` reads from etcd over the interval. */
  read(apiservers: number[], fromMs: number, toMs: number, count: number): void;
  /** dekSources: DEK seeds made (v2), or DEKs made (v1: one per write). */
  readonly dekSources: number;
}

/** FleetModelContext is what a model gets from the runner. */
export interface FleetModelContext {
  spec: FleetSpec;
  calls: FleetCalls;
  schedule: Schedule;
  /**
   * touch is called at `atMs` just before the model changes what decides how traffic flows — which apiservers take
   * writes, their DEK seeds, which sources they know, whether the KMS is up: the runner first lets the traffic
   * flow up to then under the state as it was. Steps that change none of it (a Status that only extends a live
   * write key, a probe) need not call it, so the runner can let traffic flow in long spans.
   */
  touch: (atMs: number) => void;
}

/**
 * healthProbeDelay is when the next KMS health probe runs after one at `atMs`: the result is cached (20 s after
 * success, 3 s after failure) and the next check that finds it expired runs a new one; checks arrive every
 * `healthCheckEveryMs`.
 */
export function healthProbeDelay(spec: FleetSpec, ok: boolean): number {
  // KMS v1's probe caches for the same 20 s / 3 s as v2's (kmsPluginHealthz{Positive,Negative}TTL upstream).
  const ttl = ok ? KMS_V2_TIMING.probeCacheOk : KMS_V2_TIMING.probeCacheFailed;
  const every = spec.healthCheckEveryMs;
  return Math.ceil(ttl / every) * every;
}
