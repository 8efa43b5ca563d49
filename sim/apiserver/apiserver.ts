import { createHash } from 'node:crypto';
import type { SimClock } from '../clock.js';
import { decodeSecret, encodeSecret } from '../k8s-object.js';
import type { MemoryEtcd } from '../memory-etcd.js';
import type { Random } from '../random.js';
import type { KmsPlugin } from './kms-plugin.js';
import { KMS_V2_TIMING, KmsV2Provider, uuid } from './kms-v2-provider.js';

/** A provider for Secrets in the modelled EncryptionConfiguration (the model covers KMS v2 and identity). */
export type SimProvider = { kms: { name: string; timeoutMs?: number } } | { identity: Record<string, never> };

/** SimApiError is an API failure with the status and message the real apiserver gives. */
export class SimApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly reason: string,
  ) {
    super(message);
    this.name = 'SimApiError';
  }
}

export interface SimApiserverOptions {
  name: string;
  clock: SimClock;
  etcd: MemoryEtcd;
  plugin: KmsPlugin;
  random: Random;
  providers: SimProvider[];
  /** Identifies the config file content (sha256 of its bytes), as `last_config_info` reports it. */
  configHash: string;
}

// Modelled from measurements (docs/apiserver-behaviour.md): storage readiness holds /livez up to
// --storage-initialization-timeout; a failing watch-cache LIST is retried about 4 times a second.
const STORAGE_INIT_TIMEOUT = 60_000;
const WATCH_CACHE_RETRY = 250;
const CONFIG_POLL = 60_000;
const RELOAD_RETRY = 3_000;

interface Transformer {
  prefix: string;
  kms?: KmsV2Provider;
}

/**
 * SimApiserver models one kube-apiserver process for Secrets under KMS v2: config load with an inline probe, the
 * Status loops, health endpoints, reads and writes through the provider chain (with staleness and the no-op update
 * short-circuit), the Secret watch cache's readiness, and automatic config reload. Virtual time only.
 */
export class SimApiserver {
  running = false;
  private transformers: Transformer[] = [];
  private stops: Array<() => void> = [];
  private readonly probeLoops = new Map<KmsV2Provider, () => void>();
  private startedAt = 0;
  private cacheReady = false;
  private staged: { providers: SimProvider[]; hash: string };
  private loadedHash = '';
  private reloads = { success: 0, failure: 0 };
  private reloading = false;
  private retryPending = false;
  private readonly idHash: string;

  constructor(private readonly o: SimApiserverOptions) {
    this.staged = { providers: o.providers, hash: o.configHash };
    this.idHash = `sha256:${createHash('sha256').update(o.name).digest('hex')}`;
  }

  get name(): string {
    return this.o.name;
  }

  /** start loads the staged config (one inline probe per KMS provider, failures not fatal) and starts the loops. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.startedAt = this.o.clock.now();
    this.cacheReady = false;
    this.transformers = this.build(this.staged.providers);
    this.loadedHash = this.staged.hash;
    for (const t of this.transformers) if (t.kms) this.startProbeLoop(t.kms);
    this.stops.push(this.o.clock.every(CONFIG_POLL, () => void this.maybeReload()));
    this.initWatchCache();
    // Once listed, the watch cache decodes every later write, whoever made it: an apiserver learns (and caches)
    // the other apiservers' DEK seeds this way, through a Decrypt the first time it meets each one.
    this.stops.push(
      this.o.etcd.watch('/registry/secrets/', (kv) => {
        if (this.running && this.cacheReady) void this.read(kv.key, kv.value).catch(() => undefined);
      }),
    );
  }

  /** stop ends the process: loops, write state and DEK caches are gone (a restart starts from nothing). */
  stop(): void {
    this.running = false;
    for (const stop of this.stops.splice(0)) stop();
    for (const stop of this.probeLoops.values()) stop();
    this.probeLoops.clear();
    this.retryPending = false;
    this.transformers = [];
  }

  /** stageConfig writes a new config "file"; a running server picks it up at its next poll. */
  stageConfig(providers: SimProvider[], hash: string): void {
    this.staged = { providers, hash };
  }

  get kmsProviders(): KmsV2Provider[] {
    return this.transformers.flatMap((t) => (t.kms ? [t.kms] : []));
  }

  // ---- Secrets ----

  async create(namespace: string, name: string, data: Record<string, Buffer>): Promise<string> {
    this.mustRun();
    const key = secretKey(namespace, name);
    if (this.o.etcd.get(key)) throw new SimApiError(409, `secrets "${name}" already exists`, 'AlreadyExists');
    const object = encodeSecret({
      namespace,
      name,
      uid: uuid(this.o.random),
      createdAt: this.o.clock.now(),
      data,
      type: 'Opaque',
    });
    return String(this.o.etcd.put(key, this.write(key, object)));
  }

  /** get is a GET without resourceVersion: it reads etcd and transforms (the watch cache is not involved). */
  async get(namespace: string, name: string): Promise<{ data: Record<string, Buffer>; resourceVersion: string }> {
    this.mustRun();
    const key = secretKey(namespace, name);
    const kv = this.o.etcd.get(key);
    if (!kv) throw new SimApiError(404, `secrets "${name}" not found`, 'NotFound');
    const { plaintext } = await this.readOrFail(key, kv.value);
    return { data: decodeSecret(plaintext).data, resourceVersion: String(kv.modRevision) };
  }

  /** update is a PUT: a current, unchanged object is not written again (same resourceVersion); a stale one is. */
  async update(namespace: string, name: string, data?: Record<string, Buffer>): Promise<string> {
    this.mustRun();
    const key = secretKey(namespace, name);
    const kv = this.o.etcd.get(key);
    if (!kv) throw new SimApiError(404, `secrets "${name}" not found`, 'NotFound');
    const { plaintext, stale } = await this.readOrFail(key, kv.value);
    const current = decodeSecret(plaintext);
    const next = encodeSecret({ ...current, data: data ?? current.data });
    if (!stale && next.equals(plaintext)) return String(kv.modRevision);
    return String(this.o.etcd.put(key, this.write(key, next)));
  }

  async delete(namespace: string, name: string): Promise<void> {
    this.mustRun();
    if (!this.o.etcd.delete(secretKey(namespace, name)))
      throw new SimApiError(404, `secrets "${name}" not found`, 'NotFound');
  }

  list(namespace?: string): Array<{ namespace: string; name: string }> {
    this.mustRun();
    const prefix = namespace ? `/registry/secrets/${namespace}/` : '/registry/secrets/';
    return this.o.etcd.range(prefix).kvs.map((kv) => {
      const [ns, n] = kv.key.slice('/registry/secrets/'.length).split('/');
      return { namespace: ns!, name: n! };
    });
  }

  // ---- health and metrics ----

  /** health answers /livez, /readyz, /healthz and their sub-paths (e.g. /healthz/kms-providers), `?verbose` too. */
  async health(path: string): Promise<{ status: number; body: string }> {
    if (!this.running) throw new SimApiError(0, `connection refused: ${this.o.name} is not running`, 'Unreachable');
    const [base, query] = path.split('?');
    const [endpoint, check] = base!.replace(/^\//, '').split('/') as [string, string | undefined];
    const checks: Array<[string, () => Promise<string | undefined>]> = [['ping', async () => undefined]];
    const storageReadiness = async () =>
      !this.cacheReady && this.o.clock.now() < this.startedAt + STORAGE_INIT_TIMEOUT ? 'not finished' : undefined;
    if (endpoint !== 'livez') checks.push(['kms-providers', () => this.kmsHealth()]);
    checks.push(['poststarthook/storage-readiness', storageReadiness]);
    if (endpoint === 'readyz') {
      checks.push([
        'informer-sync',
        async () => (this.cacheReady ? undefined : '1 informers not started yet: [*v1.Secret]'),
      ]);
    }
    if (check) {
      const found = checks.find(([n]) => n === check);
      if (!found) return { status: 404, body: '404 page not found' };
      const problem = await found[1]();
      return problem === undefined
        ? { status: 200, body: 'ok' }
        : { status: 500, body: `internal server error: ${problem}` };
    }
    const results = [];
    for (const [n, run] of checks) results.push([n, await run()] as const);
    const failed = results.some(([, p]) => p !== undefined);
    if (!failed && query !== 'verbose') return { status: 200, body: 'ok' };
    const lines = results.map(([n, p]) => (p === undefined ? `[+]${n} ok` : `[-]${n} failed: reason withheld`));
    return {
      status: failed ? 500 : 200,
      body: `${lines.join('\n')}\n${endpoint} check ${failed ? 'failed' : 'passed'}\n`,
    };
  }

  metrics(): string {
    const prefix = 'apiserver_encryption_config_controller';
    return [
      `${prefix}_automatic_reloads_total{apiserver_id_hash="${this.idHash}",status="success"} ${this.reloads.success}`,
      `${prefix}_automatic_reloads_total{apiserver_id_hash="${this.idHash}",status="failure"} ${this.reloads.failure}`,
      `${prefix}_last_config_info{apiserver_id_hash="${this.idHash}",hash="${this.loadedHash}"} 1`,
      ...this.kmsProviders.map(
        (p) => `apiserver_envelope_encryption_dek_source_cache_size{provider_name="${p.name}"} ${p.dekCacheSize}`,
      ),
      '',
    ].join('\n');
  }

  // ---- internals ----

  private build(providers: SimProvider[]): Transformer[] {
    return providers.map((p) =>
      'kms' in p
        ? {
            prefix: `k8s:enc:kms:v2:${p.kms.name}:`,
            kms: new KmsV2Provider(p.kms.name, this.o.clock, this.o.plugin, this.o.random, p.kms.timeoutMs),
          }
        : { prefix: '' },
    );
  }

  private async kmsHealth(): Promise<string | undefined> {
    const problems: string[] = [];
    for (const [i, p] of this.kmsProviders.entries()) {
      await p.check().catch((e: Error) => problems.push(`kms-provider-${i}: ${e.message}`));
    }
    return problems.length === 0 ? undefined : problems.length === 1 ? problems[0] : `[${problems.join(', ')}]`;
  }

  // The inline check at load, then a check every minute, every 10 s while failing (each waits one interval first).
  // A loop ends for good when its server stops or its provider is replaced by a reload, even mid-probe.
  private startProbeLoop(provider: KmsV2Provider): void {
    let cancel = () => undefined as void;
    const current = () => this.running && this.probeLoops.get(provider) === stop;
    const next = (ok: boolean) => {
      if (!current()) return;
      cancel = this.o.clock.at(
        this.o.clock.now() + (ok ? KMS_V2_TIMING.healthyPoll : KMS_V2_TIMING.unhealthyPoll),
        tick,
      );
    };
    const tick = () => {
      if (current())
        provider.check().then(
          () => next(true),
          () => next(false),
        );
    };
    const stop = () => cancel();
    this.probeLoops.set(provider, stop);
    tick();
  }

  // The Secret watch cache lists everything at start and retries until every object transforms. Like the real
  // LIST, one object that does not transform does not stop the others: each is tried, the failures aggregated.
  private initWatchCache(): void {
    const attempt = async () => {
      if (!this.running || this.cacheReady) return;
      let failed = 0;
      for (const kv of this.o.etcd.range('/registry/secrets/').kvs) {
        await this.read(kv.key, kv.value).catch(() => failed++);
      }
      if (failed === 0) this.cacheReady = true;
      else if (this.running)
        this.stops.push(this.o.clock.at(this.o.clock.now() + WATCH_CACHE_RETRY, () => void attempt()));
    };
    void attempt();
  }

  // Automatic reload: a changed file is installed only after its KMS providers pass a health check; else retried.
  private async maybeReload(): Promise<void> {
    // One reload at a time, as the real controller's de-duplicating work queue does.
    if (!this.running || this.reloading || this.retryPending || this.staged.hash === this.loadedHash) return;
    this.reloading = true;
    try {
      await this.reload();
    } finally {
      this.reloading = false;
    }
  }

  private async reload(): Promise<void> {
    const staged = this.staged;
    const fresh = this.build(staged.providers);
    const kms = fresh.flatMap((t) => (t.kms ? [t.kms] : []));
    const deadline = this.o.clock.now() + Math.max(10_000, 2 * kms.reduce((n, p) => n + p.timeoutMs, 0));
    let ok = false;
    while (!ok && this.o.clock.now() < deadline) {
      ok = await Promise.all(kms.map((p) => p.check())).then(
        () => true,
        () => false,
      );
      if (!ok) await this.o.clock.sleep(100);
    }
    if (!this.running || staged !== this.staged) return;
    if (!ok) {
      this.reloads.failure++;
      this.retryPending = true;
      this.stops.push(
        this.o.clock.at(this.o.clock.now() + RELOAD_RETRY, () => {
          this.retryPending = false;
          void this.maybeReload();
        }),
      );
      return;
    }
    for (const old of this.kmsProviders) {
      this.probeLoops.get(old)?.();
      this.probeLoops.delete(old);
    }
    this.transformers = fresh;
    this.loadedHash = staged.hash;
    this.reloads.success++;
    for (const p of kms) this.startProbeLoop(p);
  }

  private write(key: string, plaintext: Buffer): Buffer {
    const first = this.transformers[0];
    try {
      if (!first) throw new Error('no encryption provider configured');
      return first.kms ? first.kms.seal(key, plaintext) : plaintext;
    } catch (error) {
      throw new SimApiError(500, `Internal error occurred: ${(error as Error).message}`, 'InternalError');
    }
  }

  private async read(key: string, value: Buffer): Promise<{ plaintext: Buffer; stale: boolean }> {
    for (const [i, t] of this.transformers.entries()) {
      if (!value.subarray(0, Buffer.byteLength(t.prefix)).equals(Buffer.from(t.prefix))) continue;
      if (!t.kms) {
        if (value.subarray(0, 8).toString('latin1') === 'k8s:enc:') continue; // identity refuses encrypted data
        return { plaintext: value, stale: i !== 0 };
      }
      const r = await t.kms.open(key, value);
      return { plaintext: r.plaintext, stale: r.stale || i !== 0 };
    }
    throw new Error('no matching prefix found');
  }

  private async readOrFail(key: string, value: Buffer): Promise<{ plaintext: Buffer; stale: boolean }> {
    try {
      return await this.read(key, value);
    } catch (error) {
      throw new SimApiError(
        500,
        `Internal error occurred: StorageError: corrupt object, Code: 7, Key: ${key.replace(/^\/registry/, '')}, ResourceVersion: 0, AdditionalErrorMsg: data from the storage is not transformable revision=0: ${(error as Error).message}`,
        'InternalError',
      );
    }
  }

  private mustRun(): void {
    if (!this.running) throw new SimApiError(0, `apiserver unreachable: ${this.o.name} is not running`, 'Unreachable');
  }
}

const secretKey = (namespace: string, name: string) => `/registry/secrets/${namespace}/${name}`;
