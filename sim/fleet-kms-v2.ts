import { KMS_V2_TIMING } from './apiserver/kms-v2-provider.js';
import type { Burst, FleetCalls } from './fleet-calls.js';
import { healthProbeDelay, type FleetKmsModel, type FleetModelContext } from './fleet-model.js';

// A DEK source is in etcd once its expected object count reaches half an object.
const PRESENT = 0.5;
// The Secret watch cache retries a failed LIST about four times a second (as in the sim apiserver).
const LIST_RETRY_MS = 250;

interface Member {
  running: boolean;
  generation: number;
  /** The DEK seed this apiserver writes with, and the key_id it was wrapped under. */
  seed: number | undefined;
  seedKeyId: number;
  expiresAt: number;
  /** The KMS check's last result (what /readyz reports). */
  healthy: boolean;
  /**
   * The watch cache's LIST: pending until every stored object has been decrypted once; since when. A process
   * whose LIST is done knows every source in etcd (it decrypts each new one as its watch sees it arrive).
   */
  listPendingSince: number | undefined;
  /** While the LIST is pending: the sources that arrived up to this one (in arrival order) are known already. */
  knownUpTo: number;
  /** The LIST's Decrypts while they are being made (a restart ends them). */
  list: Burst | undefined;
}

/** A DEK source: its expected objects (divided by the model's `scale`), who made it, and when it arrived in etcd. */
interface Source {
  stored: number;
  maker: number;
  generation: number;
  /** Its place in the order sources arrived in etcd (reached half an object); undefined before. */
  arrival: number | undefined;
}

/**
 * FleetKmsV2 is KMS v2 as the sim's apiserver model does it, per apiserver process: Status at start and then every
 * minute (10 s while failing), plus the health probe (cached 20 s / 3 s); one Encrypt per DEK seed (at start, and
 * when a Status brings a new key_id); a write key that expires 3 minutes after the last good Status; and one Decrypt
 * per DEK source the process has not seen (its watch cache LISTs every stored object at start and decodes every
 * later write, whoever made it; the first objects a LIST decodes together all miss the cache, as the real DEK
 * cache has no single-flight). Writes and reads never call the KMS otherwise. Objects are not simulated one by
 * one: each DEK source has an expected object count, and rewrites move objects between sources in proportion.
 *
 * What each process knows is not kept per source: a source arrives in etcd once (a seed's count only grows while
 * it is written with, and only shrinks after), so a process whose LIST is done knows every source that arrived, and
 * one whose LIST is pending knows those up to an arrival. A source that no apiserver writes with any more and that
 * holds less than half an object is forgotten (it can never be decrypted again), so memory and time follow the
 * sources still stored, not every seed ever made or every apiserver that saw it.
 */
export class FleetKmsV2 implements FleetKmsModel {
  readonly calls: FleetCalls;
  private readonly members: Member[] = [];
  private keyId = 0;
  private kmsUp = true;
  private seeds = 0;
  private objects: number;
  /**
   * Every source still stored, by seed; -1 is whatever wrote the Secrets before the run. Counts are divided by
   * `scale`: rewrites take objects from every source in the same proportion, so they multiply `scale` instead.
   */
  private readonly sources = new Map<number, Source>();
  private scale = 1;
  /** Sources no apiserver writes with any more, least objects first: they only lose objects from now on. */
  private readonly retired = new MinHeap();
  /** Sources in etcd, in arrival order (forgotten ones are skipped, and compacted away now and then). */
  private arrived: number[] = [];
  private arrivals = 0;
  private present = 0;
  /** Running apiservers whose LIST is done: each decrypts a new source as it arrives. */
  private listed = 0;

  constructor(private readonly ctx: FleetModelContext) {
    this.calls = ctx.calls;
    this.objects = ctx.spec.objects;
    if (this.objects > 0) {
      this.sources.set(-1, { stored: this.objects, maker: -1, generation: 0, arrival: undefined });
      if (this.objects >= PRESENT) this.arrive(-1);
      this.retired.push(this.objects, -1);
    }
  }

  get dekSources(): number {
    return this.seeds;
  }

  start(i: number, t: number): void {
    const m = (this.members[i] ??= {
      running: false,
      generation: 0,
      seed: undefined,
      seedKeyId: -1,
      expiresAt: 0,
      healthy: false,
      listPendingSince: undefined,
      knownUpTo: 0,
      list: undefined,
    });
    if (m.running) return;
    this.ctx.touch(t);
    Object.assign(m, { running: true, seed: undefined, seedKeyId: -1, expiresAt: 0, healthy: false, knownUpTo: 0 });
    const generation = ++m.generation;
    // Config load: the inline probe (Status, then Encrypt of the first seed). The Status loop waits one interval.
    const ok = this.status(i, t);
    m.listPendingSince = t;
    this.tryList(i, t);
    const loop = (at: number) => {
      if (m.generation !== generation) return;
      const good = this.status(i, at);
      if (good) this.tryList(i, at);
      this.ctx.schedule(at + (good ? KMS_V2_TIMING.healthyPoll : KMS_V2_TIMING.unhealthyPoll), loop);
    };
    this.ctx.schedule(t + (ok ? KMS_V2_TIMING.healthyPoll : KMS_V2_TIMING.unhealthyPoll), loop);
    if (this.ctx.spec.healthCheckEveryMs > 0) {
      const probe = (at: number) => {
        if (m.generation !== generation) return;
        const good = this.status(i, at);
        if (good) this.tryList(i, at);
        this.ctx.schedule(at + healthProbeDelay(this.ctx.spec, good), probe);
      };
      this.ctx.schedule(t + healthProbeDelay(this.ctx.spec, ok), probe);
    }
  }

  stop(i: number, t: number): void {
    const m = this.members[i];
    if (!m?.running) return;
    this.ctx.touch(t);
    if (m.listPendingSince === undefined) this.listed--;
    m.running = false;
    m.generation++;
    this.retire(m.seed);
    m.seed = undefined;
    m.list?.cancel(t);
    m.list = undefined;
  }

  rotate(): void {
    this.keyId++;
  }

  setKmsUp(up: boolean, t: number): void {
    this.ctx.touch(t);
    this.kmsUp = up;
  }

  // Writes need a seed whose write key has not expired; a failing KMS check alone does not stop them (measured:
  // writes failed 180 s after the last good Status, not at the first failed one).
  ready(i: number, t: number): boolean {
    const m = this.members[i];
    return !!m?.running && m.seed !== undefined && t < m.expiresAt && m.listPendingSince === undefined;
  }

  readyUntil(i: number): number {
    return this.members[i]?.expiresAt ?? 0;
  }

  write(apiservers: number[], from: number, to: number, count: number, fresh: boolean): void {
    if (!fresh) this.overwrite(count * apiservers.length);
    else this.objects += count * apiservers.length;
    for (const i of apiservers) {
      const source = this.sources.get(this.members[i]!.seed!)!;
      const before = source.stored * this.scale;
      source.stored = (before + count) / this.scale;
      if (source.arrival !== undefined || before + count < PRESENT) continue;
      // The write that brings the seed into etcd, at its place in the interval: every other running apiserver's
      // watch cache decodes it, one Decrypt each.
      this.arrive(this.members[i]!.seed!);
      const at = from + ((PRESENT - before) / count) * (to - from);
      if (this.kmsUp) {
        const self = this.members[i]!;
        this.calls.at(at, 'Decrypt', this.listed - (self.running && self.listPendingSince === undefined ? 1 : 0));
        continue;
      }
      // The KMS is down: each of those Decrypts fails, the watch breaks, and that watch cache LISTs again (retried
      // until the KMS answers); it knew every source before this one.
      for (let j = 0; j < this.members.length; j++) {
        const other = this.members[j]!;
        if (j === i || !other.running || other.listPendingSince !== undefined) continue;
        this.calls.at(at, 'Decrypt', 1, false);
        other.listPendingSince = at;
        other.knownUpTo = this.arrivals - 1;
        this.listed--;
      }
    }
  }

  read(): void {
    // The watch cache has decrypted every stored DEK source already; a read from etcd finds its DEK cached.
  }

  // One Status call; on a new key_id (or none yet) a new seed is wrapped with Encrypt, else the write key lives on.
  private status(i: number, t: number): boolean {
    const m = this.members[i]!;
    if (!this.kmsUp) {
      this.calls.at(t, 'Status', 1, false, i);
      m.healthy = false;
      return false;
    }
    this.calls.at(t, 'Status', 1, true, i);
    const newSeed = m.seed === undefined || m.seedKeyId !== this.keyId;
    // A new seed, or a write key that had expired coming back, changes who takes writes; a live key lasting longer
    // does not.
    if (newSeed || t >= m.expiresAt) this.ctx.touch(t);
    if (newSeed) {
      this.calls.at(t, 'Encrypt');
      this.retire(m.seed);
      m.seed = this.seeds++;
      m.seedKeyId = this.keyId;
      this.sources.set(m.seed, { stored: 0, maker: i, generation: m.generation, arrival: undefined });
    }
    m.expiresAt = t + KMS_V2_TIMING.writeKeyTtl;
    m.healthy = true;
    return true;
  }

  // The watch cache's LIST decrypts each stored DEK source it has not seen; while the KMS is down it fails and is
  // retried about four times a second (each retry asks again for every source, as failures are not cached).
  private tryList(i: number, t: number): void {
    const m = this.members[i]!;
    if (m.listPendingSince === undefined || !this.kmsUp) return;
    this.ctx.touch(t);
    const { missing, objects } = this.unknownTo(i);
    const retries = Math.floor((t - m.listPendingSince) / LIST_RETRY_MS);
    if (retries > 0 && missing > 0) this.calls.at(t, 'Decrypt', retries * missing, false);
    // One Decrypt per missing source, except that the first objects decoded together all miss the cache.
    const decrypts = Math.max(missing, Math.min(this.ctx.spec.listDecodeConcurrency, objects));
    m.list = this.calls.burst(t, 'Decrypt', decrypts, 1000 / this.ctx.spec.kmsLatencyMs);
    m.listPendingSince = undefined;
    this.listed++;
  }

  // The sources in etcd this process has not seen (those that arrived after what it knew, not its own), and their
  // objects counted only as far as a LIST's concurrent decodes need (at most K).
  private unknownTo(i: number): { missing: number; objects: number } {
    const m = this.members[i]!;
    const K = this.ctx.spec.listDecodeConcurrency;
    let objects = 0;
    if (m.knownUpTo === 0) {
      // Nothing known yet (a fresh process): every source in etcd, and none of them its own (its seed is new).
      // Newest first: forgotten sources are old ones, so this stops after about K live ones.
      for (let k = this.arrived.length - 1; k >= 0 && objects < K; k--) {
        const source = this.sources.get(this.arrived[k]!);
        if (source?.arrival !== undefined) objects += Math.round(source.stored * this.scale);
      }
      return { missing: this.present, objects };
    }
    let missing = 0;
    for (let k = this.arrived.length - 1; k >= 0; k--) {
      const source = this.sources.get(this.arrived[k]!);
      if (source?.arrival === undefined) continue;
      if (source.arrival <= m.knownUpTo) break;
      if (source.maker === i && source.generation === m.generation) continue;
      missing++;
      if (objects < K) objects += Math.round(source.stored * this.scale);
    }
    return { missing, objects };
  }

  private arrive(seed: number): void {
    this.sources.get(seed)!.arrival = ++this.arrivals;
    this.arrived.push(seed);
    this.present++;
  }

  // Rewrites pick stored objects at random: each source loses its share, exp(−rewrites / objects) of it kept (the
  // product of many small 1 − 1/objects). One factor for all sources; the counts stay put.
  private overwrite(count: number): void {
    const total = this.objects;
    if (total <= 0) return;
    this.scale *= Math.exp(-count / total);
    if (this.scale < 1e-100) {
      for (const source of this.sources.values()) source.stored *= this.scale;
      this.retired.multiply(this.scale);
      this.scale = 1;
    }
    for (let top = this.retired.peek(); top && top.key * this.scale < PRESENT; top = this.retired.peek()) {
      this.retired.pop();
      this.forget(top.value);
    }
  }

  // A seed no apiserver writes with any more: forgotten at once if it holds less than half an object, else when it
  // gets there.
  private retire(seed: number | undefined): void {
    if (seed === undefined) return;
    const source = this.sources.get(seed);
    if (!source) return;
    if (source.stored * this.scale < PRESENT) this.forget(seed);
    else this.retired.push(source.stored, seed);
  }

  // No LIST can decrypt it again and no write brings it back into etcd: nobody needs to remember it.
  private forget(seed: number): void {
    const source = this.sources.get(seed);
    if (!source) return;
    this.sources.delete(seed);
    if (source.arrival === undefined) return;
    this.present--;
    if (this.arrived.length > 2 * this.present + 1024)
      this.arrived = this.arrived.filter((s) => this.sources.get(s)?.arrival !== undefined);
  }
}

/** A binary min-heap of numbers with a value each. */
class MinHeap {
  private keys: number[] = [];
  private values: number[] = [];

  push(key: number, value: number): void {
    const { keys, values } = this;
    let i = keys.length;
    keys.push(key);
    values.push(value);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (keys[parent]! <= key) break;
      keys[i] = keys[parent]!;
      values[i] = values[parent]!;
      i = parent;
    }
    keys[i] = key;
    values[i] = value;
  }

  peek(): { key: number; value: number } | undefined {
    return this.keys.length > 0 ? { key: this.keys[0]!, value: this.values[0]! } : undefined;
  }

  pop(): void {
    const { keys, values } = this;
    const key = keys.pop()!;
    const value = values.pop()!;
    if (keys.length === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= keys.length) break;
      const r = l + 1;
      const c = r < keys.length && keys[r]! < keys[l]! ? r : l;
      if (keys[c]! >= key) break;
      keys[i] = keys[c]!;
      values[i] = values[c]!;
      i = c;
    }
    keys[i] = key;
    values[i] = value;
  }

  /** multiply scales every key by one positive factor (the order stays). */
  multiply(factor: number): void {
    for (let i = 0; i < this.keys.length; i++) this.keys[i]! *= factor;
  }
}
