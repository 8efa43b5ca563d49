import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  AuditTrail,
  DEFAULT_HEALTH_STYLE,
  Faults,
  KeyringPlugin,
  KmsService,
  type FakeKmsStatus,
} from '../../../fake-kms/index.js';
import {
  Keyring,
  MemoryEtcd,
  SimApiserver,
  VirtualClock,
  seededRandom,
  type KmsPlugin,
  type Random,
} from '../../../sim/index.js';
import { poll } from '../../common/wait.js';
import { Coverage, toRow, type EtcdPage } from '../../inspect/index.js';
import {
  checkProviderName,
  encryptionConfigYaml,
  kmsThenIdentity,
  type EncryptionRule,
} from '../../kube/encryption-config.js';
import { KMS_CAPABILITIES, type Lab, type LabClock, type LabEtcd, type LabKms } from '../../lab.js';
import { secretsProviders, SimMember } from './sim-member.js';
import { eventLoopTurns } from './event-loop-turns.js';
import { createHash } from 'node:crypto';

export interface SimLabOptions {
  name?: string;
  /** Everything random (DEK seeds, nonces, uids, key material, probabilistic faults) comes from this seed. */
  seed?: string;
  apiservers?: number;
  providerName?: string;
  encryption?: (socket: string, providerName: string) => EncryptionRule[];
  /**
   * Model a broken plugin: `forgets-keys-on-restart` comes back from a restart with a new, empty keyring (a plugin
   * that keeps its keys in memory only). For chaos runs that must catch it.
   */
  brokenPlugin?: 'forgets-keys-on-restart';
}

const SOCKET = '/sim/kms/kms.sock';

/**
 * SimLab is the Lab on models, in virtual time: an in-memory etcd, modelled apiservers, and the same fake KMS
 * service (keyring, faults, audit trail) the real plugin runs — minus its gRPC socket. A 3-minute expiry takes
 * milliseconds, and a seed replays a run exactly. It is a model: its results are not real-apiserver results.
 */
export class SimLab implements Lab {
  readonly backend = 'sim';
  readonly kmsSocket = SOCKET;
  readonly clock: LabClock;
  readonly etcd: LabEtcd;
  readonly kms: LabKms;
  readonly apiservers: SimMember[];
  readonly service: KmsService;
  readonly keyring: KeyringPlugin;
  private reachable = true;
  // Key material for a forgetful plugin's new keyrings, drawn from the run's seed.
  private readonly forgetful: Random;

  private constructor(
    readonly name: string,
    readonly seed: string,
    readonly providerName: string,
    private readonly virtual: VirtualClock,
    readonly memory: MemoryEtcd,
    rules: EncryptionRule[],
    count: number,
    private readonly brokenPlugin?: SimLabOptions['brokenPlugin'],
  ) {
    const random = seededRandom(`${seed}/apiserver`);
    this.forgetful = seededRandom(`${seed}/forgotten`);
    this.keyring = new KeyringPlugin({
      keyring: Keyring.create({ random: seededRandom(`${seed}/keyring`), now: () => virtual.now() }),
    });
    const keyring = this.keyring;
    this.service = new KmsService({
      plugin: keyring,
      intendedKeyId: () => keyring.keyring.primary.keyId,
      faults: new Faults(seededRandom(`${seed}/faults`)),
      audit: new AuditTrail(),
      now: () => virtual.now(),
      sleep: (ms) => virtual.sleep(ms),
    });
    const service = this.service;
    const plugin: KmsPlugin = {
      socket: SOCKET,
      reachable: () => this.reachable,
      status: () => service.status(),
      encrypt: (r) => service.encrypt(r),
      decrypt: (r) => service.decrypt(r),
    };
    const hash = `sha256:${createHash('sha256').update(encryptionConfigYaml(rules)).digest('hex')}`;
    const turn = eventLoopTurns();
    this.apiservers = Array.from({ length: count }, (_, i) => {
      const server = new SimApiserver({
        name: count === 1 ? 'kube-apiserver' : `kube-apiserver-${i}`,
        clock: virtual,
        etcd: memory,
        plugin,
        random,
        providers: secretsProviders(rules),
        configHash: hash,
      });
      return new SimMember(server, virtual, turn);
    });
    this.clock = {
      now: () => virtual.now(),
      sleep: (ms) => virtual.sleep(ms),
      timeout: (ms) => virtual.timeout(ms),
      waitFor: (check, options) => poll(check, { ...options, clock: virtual }),
    };
    this.etcd = simEtcd(memory, turn);
    this.kms = this.simKms();
  }

  static async start(options: SimLabOptions = {}): Promise<SimLab> {
    const seed = options.seed ?? Math.random().toString(36).slice(2, 10);
    const providerName = options.providerName ?? 'kmslab';
    checkProviderName(providerName);
    const rules = (options.encryption ?? ((s, n) => [kmsThenIdentity(n, s)]))(SOCKET, providerName);
    const lab = new SimLab(
      options.name ?? `sim-${seed}`,
      seed,
      providerName,
      new VirtualClock(),
      new MemoryEtcd(),
      rules,
      options.apiservers ?? 1,
      options.brokenPlugin,
    );
    for (const a of lab.apiservers) await a.start();
    return lab;
  }

  get api() {
    return this.apiservers[0]!.api;
  }

  async collectLogs(dir: string): Promise<string[]> {
    await mkdir(dir, { recursive: true });
    const files = [join(dir, 'kms-audit.jsonl'), join(dir, 'sim.json')];
    await writeFile(
      files[0]!,
      this.service.audit
        .query()
        .map((r) => JSON.stringify(r))
        .join('\n') + '\n',
    );
    await writeFile(
      files[1]!,
      JSON.stringify(
        { backend: 'sim', seed: this.seed, virtualTime: new Date(this.virtual.now()).toISOString() },
        null,
        2,
      ),
    );
    return files;
  }

  async close(): Promise<void> {
    for (const a of this.apiservers) await a.stop();
    this.service.faults.clear();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private simKms(): LabKms {
    const ring = () => this.keyring.keyring;
    const resolve = (ref: string) => {
      const version = /^v?(\d+)$/.exec(ref)?.[1];
      return version === undefined
        ? ref
        : (ring()
            .versions()
            .find((v) => v.key === ring().activeKey && v.version === Number(version))?.keyId ?? ref);
    };
    return {
      capabilities: new Set(KMS_CAPABILITIES.filter((c) => !c.startsWith('cloud-'))),
      lacks: (c) =>
        c.startsWith('cloud-')
          ? 'the sim models no cloud behind the plugin (--cloud needs --backend local)'
          : undefined,
      status: async (): Promise<FakeKmsStatus> => ({
        socket: SOCKET,
        listening: this.reachable,
        ephemeral: true,
        activeKey: ring().activeKey,
        keyId: ring().primary.keyId,
        disabledKeyStatus: this.keyring.disabledKeyStatus,
        versions: ring().versions(),
        faults: this.service.faults.list(),
        calls: this.service.audit.counters(),
      }),
      rotate: async (key) => ring().rotate(key),
      disable: async (id) => ring().disable(resolve(id)),
      enable: async (id) => ring().enable(resolve(id)),
      destroy: async (id) => ring().destroy(resolve(id)),
      addFault: async (spec) => this.service.faults.add(spec),
      clearFaults: async (id) => void this.service.faults.clear(id),
      setDisabledKeyStatus: async (mode) => void (this.keyring.disabledKeyStatus = mode),
      stopPlugin: async () => void (this.reachable = false),
      startPlugin: async () => void (this.reachable = true),
      // A restarted plugin keeps its keys (persisted) and audit trail (its file), and forgets faults and settings.
      restart: async () => {
        this.service.faults.clear();
        this.keyring.disabledKeyStatus = DEFAULT_HEALTH_STYLE;
        this.reachable = true;
        if (this.brokenPlugin === 'forgets-keys-on-restart') {
          this.keyring.keyring = Keyring.create({ random: this.forgetful, now: () => this.virtual.now() });
        }
      },
      audit: async (query) => this.service.audit.query(query),
    };
  }
}

function simEtcd(memory: MemoryEtcd, turn: () => Promise<void>): LabEtcd {
  const scan = async function* (prefix: string): AsyncGenerator<EtcdPage> {
    const revision = memory.revision;
    let from: string | undefined;
    for (;;) {
      const page = memory.range(prefix, { limit: 1000, revision, ...(from === undefined ? {} : { from }) });
      if (page.kvs.length) {
        yield {
          revision: String(revision),
          entries: page.kvs.map((kv) => ({
            key: kv.key,
            rawKey: Buffer.from(kv.key),
            value: kv.value,
            modRevision: String(kv.modRevision),
          })),
        };
      }
      if (!page.more) return;
      from = `${page.kvs[page.kvs.length - 1]!.key}\u0000`;
    }
  };
  return {
    get: async (key) => (await turn(), memory.get(key)?.value ?? null),
    getAt: async (key, revision) => (await turn(), memory.get(key, Number(revision))?.value ?? null),
    compact: async (revision) => memory.compact(revision === undefined ? undefined : Number(revision)),
    put: async (key, value) => (await turn(), void memory.put(key, value)),
    scan,
    inspect: async (prefix = '/registry/') => {
      const coverage = new Coverage();
      for await (const page of scan(prefix))
        for (const e of page.entries) coverage.add(toRow(e.key, e.value, e.modRevision));
      return { prefix, revision: String(memory.revision), summary: coverage.summary, seconds: 0 };
    },
  };
}
