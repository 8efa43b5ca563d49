import type { Burst, FleetCalls } from './fleet-calls.js';
import { healthProbeDelay, type FleetKmsModel, type FleetModelContext } from './fleet-model.js';

const LIST_RETRY_MS = 250;

interface Member {
  running: boolean;
  generation: number;
  healthy: boolean;
  listPendingSince: number | undefined;
  /** The watch cache's LIST while its Decrypts are being made (a restart ends it). */
  list: Burst | undefined;
}

/**
 * FleetKmsV1 is KMS v1 as upstream's envelope transformer (k8s.io/apiserver `storage/value/encrypt/envelope`) does
 * it: every write makes a fresh DEK and wraps it with one Encrypt; every read of a stored value looks its wrapped
 * DEK up in an LRU cache (`cachesize`, default 1000) and calls Decrypt on a miss. So each object costs one Decrypt
 * per process that decodes it while its DEK is not cached: the watch cache's LIST at start (every stored object),
 * the watch event of every write made by another apiserver, and reads from etcd beyond what the LRU holds. The
 * health probe is an Encrypt and a Decrypt of "ping" (cached 20 s / 3 s). There is no Status call.
 *
 * Aggregated: a LIST of M objects is M Decrypts (M distinct DEKs, so the cache cannot help once M exceeds it, and
 * each is decrypted once even when M fits); a read from etcd misses with probability max(0, 1 − cachesize / M).
 */
export class FleetKmsV1 implements FleetKmsModel {
  readonly calls: FleetCalls;
  private readonly members: Member[] = [];
  private kmsUp = true;
  private deks = 0;
  private objects: number;
  /** Running apiservers whose watch cache has listed: each decodes every write another one makes. */
  private listed = 0;

  constructor(private readonly ctx: FleetModelContext) {
    this.calls = ctx.calls;
    this.objects = ctx.spec.objects;
  }

  get dekSources(): number {
    return this.deks;
  }

  start(i: number, t: number): void {
    const m = (this.members[i] ??= {
      running: false,
      generation: 0,
      healthy: false,
      listPendingSince: undefined,
      list: undefined,
    });
    if (m.running) return;
    this.ctx.touch(t);
    m.running = true;
    const generation = ++m.generation;
    m.listPendingSince = t;
    this.tryList(i, t);
    if (this.ctx.spec.healthCheckEveryMs > 0) {
      // v1 has no probe at config load; the first health check (right after start) runs the first one.
      const ok = this.probe(i, t);
      const probe = (at: number) => {
        if (m.generation !== generation) return;
        const good = this.probe(i, at);
        this.tryList(i, at);
        this.ctx.schedule(at + healthProbeDelay(this.ctx.spec, good), probe);
      };
      this.ctx.schedule(t + healthProbeDelay(this.ctx.spec, ok), probe);
    } else {
      // With nothing probing, a failed LIST still retries: check back every 10 s until it has gone through.
      const retry = (at: number) => {
        if (m.generation !== generation || m.listPendingSince === undefined) return;
        this.tryList(i, at);
        this.ctx.schedule(at + 10_000, retry);
      };
      this.ctx.schedule(t + 10_000, retry);
    }
  }

  stop(i: number, t: number): void {
    const m = this.members[i];
    if (!m?.running) return;
    this.ctx.touch(t);
    if (m.listPendingSince === undefined) this.listed--;
    m.running = false;
    m.generation++;
    m.list?.cancel(t);
    m.list = undefined;
  }

  rotate(): void {
    // A v1 plugin rotates behind its own API: already wrapped DEKs stay readable and nothing is re-wrapped.
  }

  setKmsUp(up: boolean, t: number): void {
    this.ctx.touch(t);
    this.kmsUp = up;
  }

  ready(i: number): boolean {
    const m = this.members[i];
    return !!m?.running && this.kmsUp && m.listPendingSince === undefined;
  }

  readyUntil(): number {
    return Infinity; // no write key to expire: each write asks the KMS
  }

  write(apiservers: number[], from: number, to: number, count: number, fresh: boolean): void {
    const writes = count * apiservers.length;
    if (fresh) this.objects += writes;
    this.deks += writes;
    this.calls.spread(from, to, 'Encrypt', writes);
    // Every other running apiserver's watch cache decodes the new value: a DEK it has never seen.
    let decodes = 0;
    for (const i of apiservers) {
      const self = this.members[i];
      decodes += count * (this.listed - (self?.running && self.listPendingSince === undefined ? 1 : 0));
    }
    this.calls.spread(from, to, 'Decrypt', decodes);
  }

  read(apiservers: number[], from: number, to: number, count: number): void {
    const miss = this.objects > 0 ? Math.max(0, 1 - this.ctx.spec.v1CacheSize / this.objects) : 0;
    this.calls.spread(from, to, 'Decrypt', count * apiservers.length * miss);
  }

  private probe(i: number, t: number): boolean {
    const m = this.members[i]!;
    this.calls.at(t, 'Encrypt', 1, this.kmsUp);
    if (this.kmsUp) this.calls.at(t, 'Decrypt');
    m.healthy = this.kmsUp;
    return this.kmsUp;
  }

  // The LIST makes its Decrypts one after another, each a KMS round trip: a million objects take 5000 s at 5 ms, and
  // only those made before the end of the period are counted.
  private tryList(i: number, t: number): void {
    const m = this.members[i]!;
    if (m.listPendingSince === undefined || !this.kmsUp) return;
    this.ctx.touch(t);
    const retries = Math.floor((t - m.listPendingSince) / LIST_RETRY_MS);
    if (retries > 0 && this.objects > 0) this.calls.at(t, 'Decrypt', retries * this.objects, false);
    m.list = this.calls.burst(t, 'Decrypt', this.objects, 1000 / this.ctx.spec.kmsLatencyMs);
    m.listPendingSince = undefined;
    this.listed++;
  }
}
