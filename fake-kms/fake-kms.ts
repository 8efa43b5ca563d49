import { Keyring, systemRandom, type KeyVersion } from '../sim/index.js';
import { AuditTrail } from './audit.js';
import type { KeyControl } from './control-api.js';
import { Faults } from './faults.js';
import type { ListenerLimits } from './grpc-server.js';
import { KeyringPlugin, type DisabledKeyStatus } from './keyring-plugin.js';
import { KmsEndpoint } from './kms-endpoint.js';
import { KmsService } from './service.js';
import { StateStore } from './state-store.js';

export interface FakeKmsOptions {
  /** Unix socket the apiserver dials (`endpoint: unix://<socketPath>`). Its directory is created 0700. */
  socketPath: string;
  /** Unix socket for the control API; none when unset. */
  controlSocketPath?: string;
  /** Where the keyring is kept; when unset the plugin is ephemeral and a restart forgets every key. */
  stateDir?: string;
  /** JSONL audit file (0600); none when unset (the in-memory trail still answers queries). */
  auditFile?: string;
  /** The health style: what Status says once the key is disabled (HEALTH_STYLES). Default `not-ok-keep-key-id`. */
  disabledKeyStatus?: DisabledKeyStatus;
  /** Bounds on the gRPC socket's clients (connections, idle time, request size). */
  limits?: Partial<ListenerLimits>;
}

/** FakeKmsStatus is what `GET /status` and `kmslab kms status` show. It never holds key material. */
export interface FakeKmsStatus {
  socket: string;
  listening: boolean;
  ephemeral: boolean;
  activeKey: string;
  keyId: string;
  disabledKeyStatus: DisabledKeyStatus;
  versions: KeyVersion[];
  faults: ReturnType<Faults['list']>;
  calls: Record<string, Record<string, number>>;
}

/** FakeKms is a started plugin: the gRPC listener, its keyring, faults, audit trail and control API. */
export class FakeKms extends KmsEndpoint implements KeyControl {
  private queue: Promise<unknown> = Promise.resolve();
  override readonly keys: KeyControl = this;

  private constructor(
    service: KmsService,
    readonly plugin: KeyringPlugin,
    private readonly store: StateStore | undefined,
    readonly options: FakeKmsOptions,
  ) {
    super(service, options);
  }

  get controlSocketPath(): string | undefined {
    return this.options.controlSocketPath;
  }

  static async start(options: FakeKmsOptions): Promise<FakeKms> {
    await KmsEndpoint.privateDirs(options);
    const store = options.stateDir ? new StateStore(options.stateDir) : undefined;
    const keyring = store ? await store.load() : Keyring.create({ random: systemRandom, now: Date.now });
    const plugin = new KeyringPlugin({
      keyring,
      ...(options.disabledKeyStatus ? { disabledKeyStatus: options.disabledKeyStatus } : {}),
    });
    const service = new KmsService({
      plugin,
      audit: await AuditTrail.open(options.auditFile ? { file: options.auditFile } : {}),
      intendedKeyId: () => plugin.keyring.primary.keyId,
    });
    const kms = new FakeKms(service, plugin, store, options);
    await kms.serve(options.controlSocketPath);
    return kms;
  }

  /**
   * mutate runs one keyring change and persists it before answering; changes are serialised, and a change
   * whose save fails is rolled back so memory never runs ahead of disk.
   */
  mutate<T>(change: (ring: Keyring) => T): Promise<T> {
    const run = async (): Promise<T> => {
      const before = this.plugin.keyring.snapshot();
      const result = change(this.plugin.keyring);
      if (this.store) {
        try {
          await this.store.save(this.plugin.keyring);
        } catch (error) {
          this.plugin.keyring = Keyring.restore(before, { random: systemRandom, now: Date.now });
          throw error;
        }
      }
      return result;
    };
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }

  setDisabledKeyStatus(mode: DisabledKeyStatus): void {
    this.plugin.disabledKeyStatus = mode;
  }

  /** resolveKeyId accepts a full key_id, or a version number of the active key (`2` or `v2`). */
  resolveKeyId(ref: string): string {
    const version = /^v?(\d+)$/.exec(ref)?.[1];
    if (version === undefined) return ref;
    const hit = this.plugin.keyring
      .versions()
      .find((v) => v.key === this.plugin.keyring.activeKey && v.version === Number(version));
    return hit?.keyId ?? ref;
  }

  describe(): FakeKmsStatus {
    const ring = this.plugin.keyring;
    return {
      socket: this.listener.socketPath,
      listening: this.listener.listening,
      ephemeral: this.store === undefined,
      activeKey: ring.activeKey,
      keyId: ring.primary.keyId,
      disabledKeyStatus: this.plugin.disabledKeyStatus,
      versions: ring.versions(),
      faults: this.service.faults.list(),
      calls: this.service.audit.counters(),
    };
  }
}

/** startFakeKms starts a fake KMS v2 plugin; dispose the result (or call close) to stop it. */
export function startFakeKms(options: FakeKmsOptions): Promise<FakeKms> {
  return FakeKms.start(options);
}
