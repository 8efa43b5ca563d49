// A KMS v2 plugin in this process, for unit tests of the checks: no process, no socket, virtual time. It answers
// from the sim's keyring (correct by default) and a mutation breaks one rule, as the mutant plugins of
// test/support/broken-plugin.ts do over a real socket.
import { createHash } from 'node:crypto';
import { status as Code } from '@grpc/grpc-js';
import { KeyringPlugin, KmsCallError, type KmsMethod } from '../fake-kms/index.js';
import type {
  DecryptRequest,
  DecryptResponse,
  EncryptRequest,
  EncryptResponse,
  StatusResponse,
} from '../gen/kms/v2/service.js';
import { Keyring, seededRandom, VirtualClock } from '../sim/index.js';
import type { BackendFailure, CheckBackend } from './backend-checks.js';
import { PluginDied, type PluginDeath, type PluginUnderTest } from './check.js';
import type { PluginSession } from './check-runner.js';

type Hook = 'rotate' | 'disable' | 'enable';

/** Mutation: wrappers around the double's answers, hooks and restart; each may call on to the correct behaviour. */
export interface Mutation {
  status?(d: PluginDouble, next: () => Promise<StatusResponse>): Promise<StatusResponse>;
  encrypt?(
    d: PluginDouble,
    req: EncryptRequest,
    next: (r: EncryptRequest) => Promise<EncryptResponse>,
  ): Promise<EncryptResponse>;
  decrypt?(
    d: PluginDouble,
    req: DecryptRequest,
    next: (r: DecryptRequest) => Promise<DecryptResponse>,
  ): Promise<DecryptResponse>;
  hook?(d: PluginDouble, name: Hook, keyId: string, next: () => void): void;
  restart?(d: PluginDouble): void;
  /** How the plugin reaches its cloud before each call (the backend checks put failures there). */
  cloud?(d: PluginDouble, method: KmsMethod, next: () => Promise<void>): Promise<void>;
}

let rings = 0;

/** PluginDouble is the plugin and its session at once: what runChecks drives. */
export class PluginDouble implements PluginSession {
  readonly clock = new VirtualClock();
  readonly canRestart: boolean;
  keyring = this.freshKeyring();
  dead: PluginDeath | undefined;
  /** Every hook run, in order: [name, keyId]. */
  readonly hooks: Array<[Hook, string]> = [];
  readonly invalidUtf8: Array<{ method: KmsMethod; fields: string[] }> = [];
  restarts = 0;
  /** Free for a mutation's own state. */
  readonly memory = new Map<string, unknown>();
  readonly plugin: PluginUnderTest;
  /** The failure the double's cloud is in now (the backend checks put it on and heal it). */
  cloudFailure: BackendFailure | undefined;
  /** Whether the plugin's temporary credentials have expired (fetched again at the first call once refresh works). */
  credentialsExpired = false;
  /** The cloud behind the double, as `conformance --cloud` gives the backend checks. */
  readonly backend: CheckBackend = {
    fail: async (failure) => {
      this.cloudFailure = failure;
      if (failure === 'expired-credentials') this.credentialsExpired = true;
    },
    heal: async () => {
      this.cloudFailure = undefined;
    },
  };
  private inner = new KeyringPlugin({ keyring: this.keyring });

  constructor(
    readonly mutation: Mutation = {},
    options: { canRestart?: boolean } = {},
  ) {
    this.canRestart = options.canRestart ?? true;
    const alive = () => {
      if (this.dead) throw new PluginDied(this.dead);
    };
    const m = this.mutation;
    const self = this;
    this.plugin = {
      get invalidUtf8() {
        return self.invalidUtf8;
      },
      status: async () => {
        alive();
        await this.reachCloud('Status');
        return m.status ? m.status(this, () => this.inner.status()) : this.inner.status();
      },
      encrypt: async (req) => {
        alive();
        await this.reachCloud('Encrypt');
        return m.encrypt ? m.encrypt(this, req, (r) => this.inner.encrypt(r)) : this.inner.encrypt(req);
      },
      decrypt: async (req) => {
        alive();
        await this.reachCloud('Decrypt');
        return m.decrypt ? m.decrypt(this, req, (r) => this.inner.decrypt(r)) : this.inner.decrypt(req);
      },
    };
  }

  /**
   * reachCloud is a correct plugin's way to its cloud: a failure fails the call fast (a 1 s timeout of its own for a
   * cloud that hangs), and expired credentials are fetched again at the first call after their refresh works.
   */
  reachCloud(method: KmsMethod): Promise<void> {
    const go = async () => {
      if (this.cloudFailure === 'unreachable') refuse(Code.UNAVAILABLE, 'KMS unreachable: connection reset by peer');
      if (this.cloudFailure === 'hang') {
        await sleep(this, 1_000);
        refuse(Code.DEADLINE_EXCEEDED, 'KMS did not answer within 1s');
      }
      if (this.cloudFailure === 'throttle') refuse(Code.RESOURCE_EXHAUSTED, 'Throttling');
      if (this.credentialsExpired) {
        if (this.cloudFailure === 'expired-credentials') refuse(Code.UNAUTHENTICATED, 'InvalidSecurityToken.Expired');
        this.credentialsExpired = false;
      }
    };
    return this.mutation.cloud ? this.mutation.cloud(this, method, go) : go();
  }

  /** die ends the "process" as a panic would; every later call finds it gone. */
  die(line: string): never {
    this.dead = { how: 'exit code 2', lastLines: [line, '', 'goroutine 1 [running]:'] };
    throw new PluginDied(this.dead);
  }

  async hook(name: Hook, keyId: string): Promise<void> {
    this.hooks.push([name, keyId]);
    const next = () => {
      if (name === 'rotate') this.keyring.rotate();
      else if (name === 'disable') this.keyring.disable(keyId);
      else this.keyring.enable(keyId);
    };
    if (this.mutation.hook) this.mutation.hook(this, name, keyId, next);
    else next();
  }

  async restart(): Promise<void> {
    this.restarts++;
    this.dead = undefined;
    this.mutation.restart?.(this);
  }

  async death(): Promise<PluginDeath | undefined> {
    return this.dead;
  }

  /** forget replaces the keyring with a new one, as a plugin that keeps its keys only in memory does on restart. */
  forget(): void {
    this.keyring = this.freshKeyring();
    this.inner = new KeyringPlugin({ keyring: this.keyring });
  }

  private freshKeyring(): Keyring {
    return Keyring.create({ random: seededRandom(`double-${rings++}`), now: () => this.clock.now() });
  }
}

const sleep = (d: PluginDouble, ms: number) => d.clock.sleep(ms);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const refuse = (code: number, message: string): never => {
  throw new KmsCallError(code, message);
};

/**
 * MUTANTS: for each check, a plugin that breaks its rule and nothing else. The unit tests run every check against
 * each and require exactly that check to fail; the mutant plugins in test/support/broken-plugin.ts do the same
 * over a real socket.
 */
export const MUTANTS: Record<string, { breaks: string; mutation: Mutation }> = {
  'status-error': {
    breaks: 'status-answers',
    mutation: { status: () => refuse(Code.UNAVAILABLE, 'backend unreachable') },
  },
  'version-v1': {
    breaks: 'status-version-accepted',
    mutation: { status: async (_, n) => ({ ...(await n()), version: 'v1' }) },
  },
  'version-v2beta1': {
    breaks: 'status-version-v2',
    mutation: { status: async (_, n) => ({ ...(await n()), version: 'v2beta1' }) },
  },
  'healthz-not-ok': {
    breaks: 'status-healthz-ok',
    mutation: { status: async (_, n) => ({ ...(await n()), healthz: 'degraded' }) },
  },
  'empty-key-id': { breaks: 'status-key-id', mutation: { status: async (_, n) => ({ ...(await n()), keyId: '' }) } },
  'long-key-id': {
    breaks: 'status-key-id',
    mutation: { status: async (_, n) => ({ ...(await n()), keyId: 'k'.repeat(1025) }) },
  },
  'flapping-key-id': {
    breaks: 'status-key-id-stable',
    mutation: {
      status: async (d, n) => {
        const calls = ((d.memory.get('calls') as number | undefined) ?? 0) + 1;
        d.memory.set('calls', calls);
        const s = await n();
        return { ...s, keyId: `${s.keyId}-${calls % 2}` };
      },
    },
  },
  'wrong-plaintext': {
    breaks: 'roundtrip-seed',
    mutation: {
      decrypt: async (_, r, n) => {
        const { plaintext } = await n(r);
        if (plaintext.length) plaintext[plaintext.length - 1]! ^= 1;
        return { plaintext };
      },
    },
  },
  'invalid-utf8-key-id': {
    breaks: 'answers-valid-utf8',
    mutation: {
      status: async (d, n) => {
        d.invalidUtf8.push({ method: 'Status', fields: ['key_id'] });
        return n();
      },
    },
  },
  'encrypt-other-key-id': {
    breaks: 'encrypt-key-id-matches-status',
    mutation: {
      encrypt: async (_, r, n) => {
        const e = await n(r);
        return { ...e, keyId: `${e.keyId}-other` };
      },
      decrypt: (_, r, n) => n({ ...r, keyId: r.keyId.replace(/-other$/, '') }),
    },
  },
  'big-ciphertext': {
    breaks: 'encrypt-ciphertext-size',
    mutation: {
      encrypt: async (_, r, n) => {
        const e = await n(r);
        return { ...e, ciphertext: Buffer.concat([e.ciphertext, Buffer.alloc(2000)]) };
      },
      decrypt: (_, r, n) => {
        const padding = r.ciphertext.subarray(r.ciphertext.length - 2000);
        if (padding.some((b) => b !== 0)) refuse(Code.INVALID_ARGUMENT, 'ciphertext does not authenticate');
        return n({ ...r, ciphertext: r.ciphertext.subarray(0, r.ciphertext.length - 2000) });
      },
    },
  },
  'bad-annotation-key': {
    breaks: 'encrypt-annotations',
    mutation: {
      encrypt: async (_, r, n) => ({ ...(await n(r)), annotations: { 'Not A DNS Name': Buffer.from('1') } }),
    },
  },
  deterministic: {
    breaks: 'encrypt-randomized',
    mutation: {
      encrypt: async (d, r, n) => {
        const key = `${(await d.plugin.status()).keyId}/${createHash('sha256').update(r.plaintext).digest('hex')}`;
        const seen = d.memory.get(key) as EncryptResponse | undefined;
        if (seen) return seen;
        const e = await n(r);
        d.memory.set(key, e);
        return e;
      },
    },
  },
  unauthenticated: {
    breaks: 'decrypt-tampered-never-wrong',
    mutation: {
      // Whatever does not open is "decrypted" to bytes of the right length anyway.
      decrypt: (_, r, n) =>
        n(r).catch((e: KmsCallError) => {
          if (e.code !== Code.INVALID_ARGUMENT) throw e;
          return { plaintext: createHash('sha256').update(r.ciphertext).digest() };
        }),
    },
  },
  'unchecked-trailer': {
    breaks: 'decrypt-tampered-refused',
    mutation: {
      // A byte after the ciphertext that Decrypt drops unread: changing it changes nothing, and is not noticed.
      encrypt: async (_, r, n) => {
        const e = await n(r);
        return { ...e, ciphertext: Buffer.concat([e.ciphertext, Buffer.of(0)]) };
      },
      decrypt: (_, r, n) => n({ ...r, ciphertext: r.ciphertext.subarray(0, r.ciphertext.length - 1) }),
    },
  },
  'ignores-key-id': {
    breaks: 'decrypt-unknown-key-id',
    mutation: {
      encrypt: async (d, r, n) => {
        const e = await n(r);
        d.memory.set(hex(e.ciphertext), e.keyId);
        return e;
      },
      decrypt: (d, r, n) => n({ ...r, keyId: (d.memory.get(hex(r.ciphertext)) as string | undefined) ?? r.keyId }),
    },
  },
  'unknown-errors': {
    breaks: 'errors-have-codes',
    mutation: {
      encrypt: (_, r, n) => n(r).catch(() => refuse(Code.UNKNOWN, '')),
      decrypt: (_, r, n) => n(r).catch(() => refuse(Code.UNKNOWN, '')),
    },
  },
  'empty-plaintext-garbled': {
    breaks: 'roundtrip-sizes',
    mutation: {
      encrypt: (d, r, n) => (r.plaintext.length ? n(r) : n({ ...r, plaintext: Buffer.from('x') })),
    },
  },
  'crash-on-empty-plaintext': {
    breaks: 'roundtrip-sizes',
    mutation: {
      encrypt: (d, r, n) =>
        r.plaintext.length ? n(r) : d.die('panic: runtime error: index out of range [0] with length 0'),
    },
  },
  slow: {
    breaks: 'latency',
    mutation: {
      // A backend that throttles bursts: Status takes 3.5 s once more than 15 came within 2 s.
      status: async (d, n) => {
        const recent = ((d.memory.get('recent') as number[] | undefined) ?? []).filter((t) => t > d.clock.now() - 2000);
        recent.push(d.clock.now());
        d.memory.set('recent', recent);
        if (recent.length > 15) await sleep(d, 3500);
        return n();
      },
    },
  },
  'slowish-decrypt': {
    breaks: 'latency-fast',
    mutation: {
      decrypt: async (d, r, n) => {
        await sleep(d, 50);
        return n(r);
      },
    },
  },
  serial: {
    breaks: 'concurrency',
    mutation: {
      decrypt: async (d, r, n) => {
        const inFlight = (d.memory.get('inFlight') as number | undefined) ?? 0;
        if (inFlight >= 8) refuse(Code.RESOURCE_EXHAUSTED, 'too many requests');
        d.memory.set('inFlight', inFlight + 1);
        await sleep(d, 1);
        d.memory.set('inFlight', (d.memory.get('inFlight') as number) - 1);
        return n(r);
      },
    },
  },
  'reuses-key-id': {
    breaks: 'rotate-new-key-id',
    mutation: {
      // From the second rotation on, the new key is reported under the first key's id.
      hook: (d, name, keyId, next) => {
        const alias = (d.memory.get('alias') as Map<string, string> | undefined) ?? new Map<string, string>();
        d.memory.set('alias', alias);
        const real = [...alias].reverse().find(([, shown]) => shown === keyId)?.[0] ?? keyId;
        if (name !== 'rotate') return void (name === 'disable' ? d.keyring.disable(real) : d.keyring.enable(real));
        const first = d.keyring.versions()[0]!.keyId;
        next();
        d.memory.set('rotations', ((d.memory.get('rotations') as number | undefined) ?? 0) + 1);
        if ((d.memory.get('rotations') as number) >= 2) alias.set(d.keyring.primary.keyId, first);
      },
      status: async (d, n) => {
        const s = await n();
        return { ...s, keyId: (d.memory.get('alias') as Map<string, string> | undefined)?.get(s.keyId) ?? s.keyId };
      },
      encrypt: async (d, r, n) => {
        const e = await n(r);
        return { ...e, keyId: (d.memory.get('alias') as Map<string, string> | undefined)?.get(e.keyId) ?? e.keyId };
      },
      decrypt: async (d, r, n) => {
        const alias = (d.memory.get('alias') as Map<string, string> | undefined) ?? new Map<string, string>();
        const candidates = [r.keyId, ...[...alias].filter(([, shown]) => shown === r.keyId).map(([real]) => real)];
        for (const keyId of candidates.reverse()) {
          const out = await n({ ...r, keyId }).catch(() => undefined);
          if (out) return out;
        }
        return n(r);
      },
    },
  },
  'rotation-loses-old-keys': {
    breaks: 'rotate-old-data-decrypts',
    mutation: {
      hook: (d, name, _keyId, next) => {
        const old = d.keyring.versions().map((v) => v.keyId);
        next();
        if (name === 'rotate') for (const keyId of old) d.keyring.destroy(keyId);
      },
    },
  },
  'panic-after-disable': {
    breaks: 'disable-refuses',
    mutation: {
      // As the upstream SoftHSM mock does: the first Encrypt after its key is disabled panics.
      encrypt: (d, r, n) =>
        d.keyring.primary.state === 'enabled' ? n(r) : d.die('panic: CKR_KEY_FUNCTION_NOT_PERMITTED'),
    },
  },
  'disable-ignored': {
    breaks: 'disable-refuses',
    mutation: { hook: (_, name, _keyId, next) => (name === 'disable' ? undefined : next()) },
  },
  'disabled-says-ok': {
    breaks: 'disable-status-not-ok',
    mutation: { status: async (d, n) => ({ ...(await n()), healthz: 'ok' }) },
  },
  'cached-health': {
    breaks: 'disable-status-not-ok',
    mutation: {
      // healthz is checked at most every 30 s; a restart empties the cache.
      status: async (d, n) => {
        const s = await n();
        const cached = d.memory.get('health') as { at: number; healthz: string } | undefined;
        if (cached && d.clock.now() - cached.at < 30_000) return { ...s, healthz: cached.healthz };
        d.memory.set('health', { at: d.clock.now(), healthz: s.healthz });
        return s;
      },
      restart: (d) => d.memory.delete('health'),
    },
  },
  'enable-ignored': {
    breaks: 'enable-restores',
    mutation: { hook: (_, name, _keyId, next) => (name === 'enable' ? undefined : next()) },
  },
  'forgets-on-restart': { breaks: 'restart-keeps-data', mutation: { restart: (d) => d.forget() } },
  // vault-kubernetes-kms with its Vault down: the call waits on the backend past the apiserver's 3 s.
  'waits-on-hanging-cloud': {
    breaks: 'backend-outage',
    mutation: {
      cloud: async (d, _method, next) => {
        if (d.cloudFailure === 'hang') await sleep(d, 3_500);
        return next();
      },
    },
  },
  'retries-throttling': {
    breaks: 'backend-throttled',
    mutation: {
      cloud: async (d, _method, next) => {
        // Three attempts with a 1.2 s backoff: the last answer comes after the apiserver gave up.
        if (d.cloudFailure === 'throttle') await sleep(d, 2 * 1_200 + 700);
        return next();
      },
    },
  },
  'never-refreshes': {
    breaks: 'backend-credentials-expired',
    mutation: {
      // Like a plugin whose failed refresh ends its refresh loop: the expired credentials stay until a restart.
      cloud: async (d, _method, next) => {
        if (d.credentialsExpired) refuse(Code.UNAUTHENTICATED, 'InvalidSecurityToken.Expired');
        return next();
      },
    },
  },
};
