import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findBinary, type ProgressListener } from '../../binaries/index.js';
import { KmslabError } from '../../common/errors.js';
import { encryptionConfigYaml, kmsThenIdentity, type EncryptionRule } from '../../kube/encryption-config.js';
import { kubeconfigYaml } from '../../kube/kubeconfig.js';
import { assertNameFree, claimLabDir, writeLab, type LabRecord } from '../../labs/registry.js';
import { identify } from '../../process/process-identity.js';
import { ApiserverMember } from './apiserver-member.js';
import { EtcdMember } from './etcd-member.js';
import { KmsPluginProcess } from './kms-plugin-process.js';

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
  readyTimeoutMs?: number;
  onProgress?: (message: string) => void;
  onBuildProgress?: ProgressListener;
}

/**
 * LocalLab is a running control plane of local processes: the fake KMS plugin, etcd and one or more
 * kube-apiservers, all under a private lab dir, recorded in lab.json so any process can find and stop it.
 */
export class LocalLab implements AsyncDisposable {
  private stopped = false;

  private constructor(
    readonly record: LabRecord,
    readonly kms: KmsPluginProcess,
    readonly etcd: EtcdMember,
    readonly apiservers: ApiserverMember[],
    readonly token: string,
  ) {}

  static async start(options: LocalLabOptions = {}): Promise<LocalLab> {
    const name = options.name ?? 'default';
    const say = options.onProgress ?? (() => undefined);
    const providerName = options.providerName ?? 'kmslab';
    if (providerName.includes(':'))
      throw new KmslabError('usage', `provider name "${providerName}" must not contain ':'`);

    await assertNameFree(name);
    say('finding binaries');
    const [etcdBin, apiserverBin] = await Promise.all([
      findBinary('etcd', {
        ...(options.etcdVersion ? { version: options.etcdVersion } : {}),
        ...(options.onBuildProgress ? { onProgress: options.onBuildProgress } : {}),
      }),
      findBinary('kube-apiserver', {
        ...(options.k8sVersion ? { version: options.k8sVersion } : {}),
        ...(options.onBuildProgress ? { onProgress: options.onBuildProgress } : {}),
      }),
    ]);

    const dir = await claimLabDir(name);
    const path = (...p: string[]) => join(dir, ...p);
    await mkdir(path('logs'), { mode: 0o700 });
    await mkdir(path('kms'), { mode: 0o700 });
    await mkdir(path('config'), { mode: 0o700 });
    const kmsPaths = {
      socket: path('kms', 'kms.sock'),
      control: path('kms', 'control.sock'),
      stateDir: path('kms-state'),
      auditFile: path('logs', 'kms-audit.jsonl'),
    };
    if (Buffer.byteLength(kmsPaths.control) > 100) {
      throw new KmslabError(
        'usage',
        `lab dir ${dir} is too deep for a unix socket path (max ~100 bytes); set KMSLAB_HOME to a shorter path`,
      );
    }

    const token = randomBytes(24).toString('hex');
    const shared = {
      token,
      tokenFile: path('config', 'tokens.csv'),
      serviceAccountKey: path('config', 'service-account.key'),
      encryptionConfig: path('config', 'encryption-config.yaml'),
      etcdUrl: '',
    };
    await writeFile(shared.tokenFile, `${token},kmslab-admin,kmslab-admin,"system:masters"\n`, { mode: 0o600 });
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await writeFile(shared.serviceAccountKey, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    const rules = (options.encryption ?? ((s, n) => [kmsThenIdentity(n, s)]))(kmsPaths.socket, providerName);
    await writeFile(shared.encryptionConfig, encryptionConfigYaml(rules), { mode: 0o600 });

    const etcd = await EtcdMember.create(etcdBin.path, dir);
    shared.etcdUrl = etcd.url;
    const count = options.apiservers ?? 1;
    const apiservers = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        ApiserverMember.create(
          count === 1 ? 'kube-apiserver' : `kube-apiserver-${i}`,
          apiserverBin.path,
          dir,
          shared,
          options.apiserverArgs,
        ),
      ),
    );
    const kms = new KmsPluginProcess(dir, kmsPaths);
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
      kms: { ...kmsPaths, provider: providerName },
      encryptionConfig: shared.encryptionConfig,
      versions: { kubeApiserver: apiserverBin.version, etcd: etcdBin.version },
      processes: [],
      owner: identify(process.pid),
    };
    const lab = new LocalLab(record, kms, etcd, apiservers, token);
    for (const member of [kms, etcd, ...apiservers]) member.onSpawn = () => lab.save();
    await lab.save();
    try {
      say('starting fake-kms');
      await kms.start();
      say(`starting etcd ${etcdBin.version ?? `(${etcdBin.path})`}`);
      await etcd.start();
      for (const a of apiservers) {
        say(`starting ${a.name} ${apiserverBin.version ?? `(${apiserverBin.path})`} and waiting for /readyz`);
        await a.start(options.readyTimeoutMs);
      }
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
      record.status = 'ready';
      await lab.save();
      return lab;
    } catch (error) {
      record.status = 'failed';
      record.error = (error as Error).message;
      await lab.stop().catch(() => undefined);
      await lab.save().catch(() => undefined);
      throw error;
    }
  }

  get name(): string {
    return this.record.name;
  }

  get dir(): string {
    return this.record.dir;
  }

  /** save refreshes lab.json with the current processes (pids change when a member restarts). */
  async save(): Promise<void> {
    this.record.processes = [this.kms.process, this.etcd.process, ...this.apiservers.map((a) => a.process)]
      .filter((p) => p !== undefined)
      .map((p) => p.record);
    await writeLab(this.record);
  }

  /** stop ends every process in reverse start order; the lab dir stays for its logs until `kmslab down`. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const errors: unknown[] = [];
    for (const step of [...this.apiservers.map((a) => () => a.stop()), () => this.etcd.stop(), () => this.kms.stop()]) {
      await step().catch((e: unknown) => errors.push(e));
    }
    if (this.record.status !== 'failed') this.record.status = 'stopped';
    await writeLab(this.record).catch((e: unknown) => errors.push(e));
    if (errors.length) throw new AggregateError(errors, `stopping lab ${this.name} failed`);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
