import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { copyFile, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findBinary, type ProgressListener } from '../../binaries/index.js';
import { realClock } from '../../common/clock.js';
import { KmslabError } from '../../common/errors.js';
import { checkProviderName, kmsThenIdentity, pointAt, type EncryptionRule } from '../../kube/encryption-config.js';
import { kubeconfigYaml } from '../../kube/kubeconfig.js';
import type { Lab, LabController, LabKms, LabKmsV1 } from '../../lab.js';
import { ControllerManagerMember } from './controller-manager-member.js';
import { startLabKmsV1 } from '../../lab-kms-v1.js';
import { claimLab, labKmsFiles, writeLab, type LabRecord } from '../../labs/registry.js';
import { identify } from '../../process/process-identity.js';
import { ApiserverMember } from './apiserver-member.js';
import { EtcdMember } from './etcd-member.js';
import {
  CloudEmulatorProcess,
  KmsPluginProcess,
  kmsSide,
  type CloudName,
  type ExternalPlugin,
  type KmsMember,
} from '../../kms/index.js';
import { RawEtcd } from '../common/raw-etcd.js';

export interface LocalLabOptions {
  /** Lab name, unique on this machine among running labs. Default `default`. */
  name?: string;
  /** kube-apiserver version to build or find; default the pinned one. */
  k8sVersion?: string;
  etcdVersion?: string;
  /** Number of kube-apiservers on the one etcd (HA). Default 1. */
  apiservers?: number;
  /** The KMS v2 provider name, as it appears in `k8s:enc:kms:v2:<name>:`. Default `kmslab`. */
  providerName?: string;
  /** The EncryptionConfiguration rules, given the plugin socket. Default: secrets → KMS v2, then identity. */
  encryption?: (socket: string, providerName: string) => EncryptionRule[];
  /** Extra kube-apiserver flags. */
  apiserverArgs?: string[];
  /** kube-apiserver feature gates (`--feature-gates=Name=true,…`), set on every apiserver of the lab. */
  featureGates?: Record<string, boolean>;
  /** Run a KMS v1 plugin too (in this process, beside the v2 plugin's socket), for labs that start on KMS v1. */
  kmsV1?: boolean;
  /** Run kube-controller-manager with these controllers (and what they need), once the apiservers are ready. */
  controllers?: LabController[];
  /** Run this KMS v2 plugin behind the proxy instead of the fake KMS. */
  plugin?: ExternalPlugin;
  /**
   * Put this cloud's KMS emulator behind the plugin: the lab runs it, and kmslab's plugin for that cloud (or
   * `plugin`, which then finds the emulator in its environment). The proxy stays in front.
   */
  cloud?: CloudName;
  /** The rules that turn KMS on in this lab, if not the default (the user's own config; kms sockets are replaced). */
  kmsRules?: EncryptionRule[];
  readyTimeoutMs?: number;
  /** Remove the lab dir when the lab is closed (default: keep it, with its logs, until `kmslab down`). */
  removeOnClose?: boolean;
  onProgress?: (message: string) => void;
  onBuildProgress?: ProgressListener;
  /** Aborting a start stops what it started (keeping the files) and makes start throw. */
  signal?: AbortSignal;
}

/** MAX_APISERVERS bounds an HA lab: each member is a ~300 MB process on the same machine. */
export const MAX_APISERVERS = 5;

function checkApiserverCount(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > MAX_APISERVERS) {
    throw new KmslabError(
      'usage',
      `--apiservers ${n}: a local lab runs 1 to ${MAX_APISERVERS} kube-apiservers (each is a ~300 MB process on this machine)`,
    );
  }
}

const providerName = (o: LocalLabOptions) => o.providerName ?? 'kmslab';

/** featureGateArgs is the flag for a set of gates, or nothing; a name that is not a gate's shape is refused here. */
export function featureGateArgs(gates: Record<string, boolean> = {}): string[] {
  const names = Object.keys(gates);
  const bad = names.find((n) => !/^[A-Z][A-Za-z0-9]*$/.test(n));
  if (bad !== undefined) {
    throw new KmslabError(
      'usage',
      `feature gate "${bad.slice(0, 64)}" is not a gate name (UpperCamelCase, like KMSv1)`,
    );
  }
  return names.length ? [`--feature-gates=${names.map((n) => `${n}=${gates[n]}`).join(',')}`] : [];
}

/**
 * LocalLab is a running control plane of local processes: the fake KMS plugin, etcd and one or more
 * kube-apiservers, all under a private lab dir, recorded in lab.json so any process can find and stop it.
 */
export class LocalLab implements Lab {
  readonly backend = 'local';
  readonly clock = realClock;
  kmsV1: LabKmsV1 | undefined;
  controllerManager: ControllerManagerMember | undefined;
  private etcdClient: RawEtcd | undefined;
  private removed = false;

  private constructor(
    readonly record: LabRecord,
    readonly kmsMembers: KmsMember[],
    readonly kms: LabKms,
    readonly etcdMember: EtcdMember,
    readonly apiservers: ApiserverMember[],
    private readonly removeOnClose: boolean,
    private readonly userKmsRules?: EncryptionRule[],
  ) {}

  static async start(options: LocalLabOptions = {}): Promise<LocalLab> {
    const name = options.name ?? 'default';
    const count = options.apiservers ?? 1;
    checkApiserverCount(count);
    checkProviderName(providerName(options));
    // The name is held for the whole start: a second start of it fails at once, and never touches this lab's files.
    const claim = await claimLab(name);
    try {
      return await LocalLab.startClaimed(name, claim.dir, count, options);
    } finally {
      await claim.release();
    }
  }

  private static async startClaimed(
    name: string,
    dir: string,
    count: number,
    options: LocalLabOptions,
  ): Promise<LocalLab> {
    const say = options.onProgress ?? (() => undefined);
    const signal = options.signal;
    const interrupted = () => {
      if (signal?.aborted) throw new KmslabError('failed', 'interrupted');
    };
    interrupted();
    say('finding binaries');
    const build = options.onBuildProgress ? { onProgress: options.onBuildProgress } : {};
    const etcdBin = await findBinary('etcd', {
      ...build,
      ...(options.etcdVersion ? { version: options.etcdVersion } : {}),
    });
    const apiserverBin = await findBinary('kube-apiserver', {
      ...build,
      ...(options.k8sVersion ? { version: options.k8sVersion } : {}),
    });

    const path = (...p: string[]) => join(dir, ...p);
    for (const sub of ['logs', 'kms', 'config']) await mkdir(path(sub), { mode: 0o700 });
    const kmsPaths = labKmsFiles(dir);
    if (Buffer.byteLength(kmsPaths.control) > 100) {
      throw new KmslabError(
        'usage',
        `lab dir ${dir} is too deep for a unix socket path (max ~100 bytes); set KMSLAB_HOME to a shorter path`,
      );
    }

    const token = randomBytes(24).toString('hex');
    const tokenFile = path('config', 'tokens.csv');
    const serviceAccountKey = path('config', 'service-account.key');
    await writeFile(tokenFile, `${token},kmslab-admin,kmslab-admin,"system:masters"\n`, { mode: 0o600 });
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await writeFile(serviceAccountKey, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });

    const etcd = await EtcdMember.create(etcdBin.path, dir);
    const shared = { token, tokenFile, serviceAccountKey, etcdUrl: etcd.url };
    const apiservers = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        ApiserverMember.create(count === 1 ? 'kube-apiserver' : `kube-apiserver-${i}`, apiserverBin.path, dir, shared, [
          ...featureGateArgs(options.featureGates),
          ...(options.apiserverArgs ?? []),
        ]),
      ),
    );
    const rules = (options.encryption ?? ((s, n) => [kmsThenIdentity(n, s)]))(kmsPaths.socket, providerName(options));
    for (const a of apiservers) await a.writeEncryption(rules);

    let lab: LocalLab | undefined;
    const side = await kmsSide(dir, kmsPaths, options.plugin, async () => lab?.save(), options.cloud);
    const record: LabRecord = {
      format: 1,
      name,
      backend: 'local',
      dir,
      createdAt: new Date().toISOString(),
      status: 'starting',
      kubeconfig: path('kubeconfig'),
      apiservers: apiservers.map((a) => ({ name: a.name, url: a.url })),
      etcd: etcd.url,
      kms: {
        ...kmsPaths,
        provider: providerName(options),
        ...(side.upstream ? { plugin: { ...(side.plugin ?? options.plugin), socket: side.upstream } } : {}),
      },
      encryptionConfig: apiservers[0]!.encryptionConfig,
      versions: { kubeApiserver: apiserverBin.version, etcd: etcdBin.version },
      processes: [],
      owner: identify(process.pid),
    };
    lab = new LocalLab(
      record,
      side.members,
      side.kms,
      etcd,
      apiservers,
      options.removeOnClose ?? false,
      options.kmsRules,
    );
    const saving = lab;
    for (const member of [...side.members, etcd, ...apiservers]) member.onSpawn = () => saving.save();
    await lab.save();
    // An abort ends the wait in progress; the member being started is then stopped with the rest below.
    try {
      for (const member of side.members) {
        interrupted();
        const what =
          member instanceof KmsPluginProcess
            ? member.name
            : member instanceof CloudEmulatorProcess
              ? `the ${member.cloud} KMS emulator`
              : 'the KMS plugin';
        say(`starting ${what}`);
        await member.start(undefined, signal);
      }
      const cloud = side.cloud?.();
      if (cloud) record.kms.cloud = cloud;
      if (options.kmsV1) {
        say('starting the KMS v1 plugin');
        lab.kmsV1 = await startLabKmsV1(kmsPaths.socket);
      }
      interrupted();
      say(`starting etcd ${etcdBin.version ?? `(${etcdBin.path})`}`);
      await etcd.start(undefined, signal);
      // Ports may have been re-picked if one was taken meanwhile.
      shared.etcdUrl = record.etcd = etcd.url;
      for (const a of apiservers) {
        interrupted();
        say(`starting ${a.name} ${apiserverBin.version ?? `(${apiserverBin.path})`} and waiting for /readyz`);
        await a.start('ready', options.readyTimeoutMs, signal);
      }
      record.apiservers = apiservers.map((a) => ({ name: a.name, url: a.url }));
      await writeFile(
        record.kubeconfig,
        kubeconfigYaml({
          name: `kmslab-${name}`,
          server: apiservers[0]!.url,
          caPem: await apiservers[0]!.caPem(),
          token,
        }),
        { mode: 0o600 },
      );
      if (options.controllers?.length) {
        const kcm = await ControllerManagerMember.create(
          dir,
          record.kubeconfig,
          options.controllers,
          options.k8sVersion,
        );
        lab.controllerManager = kcm;
        kcm.onSpawn = () => saving.save();
        interrupted();
        say(`starting kube-controller-manager (${kcm.controllers.join(', ')})`);
        await kcm.start(undefined, signal);
      }
      interrupted();
      record.status = 'ready';
      await lab.save();
      return lab;
    } catch (error) {
      record.status = 'failed';
      record.error = (error as Error).message;
      // A failed start keeps its dir whatever removeOnClose says: its logs are what explains the failure.
      await lab.close({ keepFiles: true }).catch(() => undefined);
      throw new KmslabError(
        'start-failed',
        `${(error as Error).message}\n(lab files kept in ${dir}; remove them with kmslab down --name ${name})`,
        {
          cause: error,
        },
      );
    }
  }

  get name(): string {
    return this.record.name;
  }

  /** etcd is raw access to the lab's etcd (made on first use: etcd's port is final only once it started). */
  get etcd(): RawEtcd {
    return (this.etcdClient ??= new RawEtcd(this.etcdMember.url));
  }

  get dir(): string {
    return this.record.dir;
  }

  get providerName(): string {
    return this.record.kms.provider;
  }

  get kmsSocket(): string {
    return this.record.kms.socket;
  }

  /** kmsRules are the rules that turn KMS on here: the user's config pointed at this lab's socket, or the default. */
  get kmsRules(): EncryptionRule[] {
    return this.userKmsRules
      ? pointAt(this.userKmsRules, this.kmsSocket)
      : [kmsThenIdentity(this.providerName, this.kmsSocket)];
  }

  get api() {
    return this.apiservers[0]!.api;
  }

  /** save refreshes lab.json with the current processes (pids change when a member restarts). */
  async save(): Promise<void> {
    this.record.processes = [
      ...this.kmsMembers.map((m) => m.process),
      this.etcdMember.process,
      ...this.apiservers.map((a) => a.process),
      this.controllerManager?.process,
    ]
      .filter((p) => p !== undefined)
      .map((p) => p.record);
    await writeLab(this.record);
  }

  async upgradeApiservers(k8sVersion: string): Promise<void> {
    const bin = await findBinary('kube-apiserver', { version: k8sVersion });
    for (const a of this.apiservers) await a.restartOn(bin.path);
    this.record.versions.kubeApiserver = bin.version ?? k8sVersion;
    await this.save();
  }

  async killEtcd(): Promise<{ restart(): Promise<void> }> {
    await this.etcdMember.crash();
    return {
      restart: async () => {
        await this.etcdMember.start();
        await this.save();
      },
    };
  }

  async collectLogs(target: string): Promise<string[]> {
    await mkdir(target, { recursive: true });
    const files = await readdir(join(this.dir, 'logs'));
    for (const f of files) await copyFile(join(this.dir, 'logs', f), join(target, f));
    return files.map((f) => join(target, f));
  }

  /**
   * close stops every process in reverse start order; the lab dir stays (logs) until `kmslab down`, unless
   * removeOnClose. Calling it again stops whatever runs by then (nothing, unless a start raced the first call).
   */
  async close(options: { keepFiles?: boolean } = {}): Promise<void> {
    if (this.removed) return;
    const errors: unknown[] = [];
    await this.controllerManager?.stop().catch((e: unknown) => errors.push(e));
    for (const a of this.apiservers) await a.stop().catch((e: unknown) => errors.push(e));
    await this.etcdMember.stop().catch((e: unknown) => errors.push(e));
    await this.kmsV1?.stop().catch((e: unknown) => errors.push(e));
    for (const m of [...this.kmsMembers].reverse()) await m.stop().catch((e: unknown) => errors.push(e));
    for (const a of this.apiservers) a.close();
    this.etcdClient?.close();
    if (this.record.status !== 'failed') this.record.status = 'stopped';
    if (this.removeOnClose && !options.keepFiles) {
      this.removed = true;
      await rm(this.dir, { recursive: true, force: true }).catch((e: unknown) => errors.push(e));
    } else await writeLab(this.record).catch((e: unknown) => errors.push(e));
    if (errors.length) throw new AggregateError(errors, `stopping lab ${this.name} failed`);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
