import type { Random } from '../../sim/index.js';
import { AuditLog } from './audit-log.js';
import { CloudFaults } from './faults.js';
import { Grants, type Grant } from './grants.js';
import { Identities, type IdentitiesSnapshot, type IdentityNaming } from './identities.js';
import { KeyStore, type KeyRecord, type KeyRules } from './keys.js';
import { StateFile } from './state-file.js';

/** CloudSnapshot is everything a cloud emulator must not lose on restart (key material included: keep it 0600). */
export interface CloudSnapshot<X> {
  format: 1;
  keys: KeyRecord[];
  identities: IdentitiesSnapshot;
  grants: Grant[];
  /** What the cloud front keeps of its own (e.g. the names of the identities it made at first start). */
  front: X;
}

export interface CloudCoreOptions {
  random: Random;
  now: () => number;
  naming: IdentityNaming;
  keyRules: KeyRules;
  /** Where state persists; none keeps it in memory (a restart forgets everything). */
  stateDir?: string;
  /** JSONL file of audit events (0600). */
  auditFile?: string;
}

/**
 * CloudCore is a cloud-neutral KMS account: keys, identities, grants, faults and an audit log, persisted together so
 * a restart loses nothing. A cloud front (cloud/alibaba, …) speaks the service's API on top of it.
 */
export class CloudCore<E, X> {
  readonly faults: CloudFaults;
  readonly audit: AuditLog<E>;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly options: CloudCoreOptions,
    public keys: KeyStore,
    public identities: Identities,
    public grants: Grants,
    public front: X,
    private readonly store: StateFile<CloudSnapshot<X>> | undefined,
  ) {
    this.faults = new CloudFaults(options.now, options.random);
    this.audit = new AuditLog<E>(options.auditFile);
  }

  /** open loads the saved account, or makes one with `setup` (then saved at once) when there is none. */
  static async open<E, X>(options: CloudCoreOptions, setup: (core: CloudCore<E, X>) => X): Promise<CloudCore<E, X>> {
    const store = options.stateDir ? new StateFile<CloudSnapshot<X>>(options.stateDir, 'cloud-state.json') : undefined;
    const saved = await store?.load();
    const { random, now, naming, keyRules } = options;
    if (saved) {
      if (saved.format !== 1) throw new Error(`${store!.path}: unknown state format ${String(saved.format)}`);
      return new CloudCore<E, X>(
        options,
        KeyStore.restore(saved.keys, random, now, keyRules),
        Identities.restore(saved.identities, random, now, naming),
        new Grants(saved.grants),
        saved.front,
        store,
      );
    }
    const core = new CloudCore<E, X>(
      options,
      new KeyStore(random, now, keyRules),
      Identities.create(random, now, naming),
      new Grants(),
      undefined as X,
      store,
    );
    core.front = setup(core);
    await core.save();
    return core;
  }

  get now(): () => number {
    return this.options.now;
  }

  /** status is the account as the control API shows it: keys, identities (no secrets), grants, faults, call counts. */
  status(): Record<string, unknown> {
    return {
      keys: this.keys.list(),
      users: this.identities.users(),
      roles: this.identities.roles(),
      sessions: this.identities.sessions(),
      sessionCapMs: this.identities.sessionCapMs ?? null,
      grants: this.grants.list(),
      faults: this.faults.list(),
      calls: this.audit.counts(),
    };
  }

  snapshot(): CloudSnapshot<X> {
    return {
      format: 1,
      keys: this.keys.snapshot(),
      identities: this.identities.snapshot(),
      grants: this.grants.snapshot(),
      front: structuredClone(this.front),
    };
  }

  /**
   * mutate runs one change and persists it before resolving; changes are serialised, and one whose save fails is
   * rolled back so memory never runs ahead of disk.
   */
  mutate<T>(change: () => T): Promise<T> {
    const run = async (): Promise<T> => {
      const before = this.snapshot();
      try {
        const result = change();
        await this.save();
        return result;
      } catch (error) {
        this.restore(before);
        throw error;
      }
    };
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private restore(s: CloudSnapshot<X>): void {
    const { random, now, naming, keyRules } = this.options;
    this.keys = KeyStore.restore(s.keys, random, now, keyRules);
    this.identities = Identities.restore(s.identities, random, now, naming);
    this.grants = new Grants(s.grants);
    this.front = s.front;
  }

  private async save(): Promise<void> {
    await this.store?.save(this.snapshot());
  }
}
