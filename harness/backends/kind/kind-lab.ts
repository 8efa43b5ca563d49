import { createHash } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findBinary } from '../../binaries/find.js';
import { realClock } from '../../common/clock.js';
import { KmslabError } from '../../common/errors.js';
import { poll } from '../../common/wait.js';
import { dockerInfo } from '../../engine/docker-engine.js';
import { shimPath, writeDockerShim } from '../../engine/docker-shim.js';
import { RUNTIME_NAME } from '../../engine/runtime-wrapper.js';
import { requireLocalImages } from '../../images/docker-images.js';
import { K8S_VERSION, kindNodeImage } from '../../images/versions.js';
import { waitUntilServing } from '../../kube/apiserver-waits.js';
import {
  checkProviderName,
  encryptionConfigYaml,
  kmsThenIdentity,
  type EncryptionRule,
} from '../../kube/encryption-config.js';
import { ApiOnlyApiserver } from '../../kube/api-only-apiserver.js';
import type { Lab, LabKms } from '../../lab.js';
import { claimLab, labKmsFiles, writeLab, type LabRecord } from '../../labs/registry.js';
import { identify } from '../../process/process-identity.js';
import { KubeApi } from '../common/kube-api.js';
import { RawEtcd } from '../common/raw-etcd.js';
import { controlKms, KmsPluginProcess } from '../../kms/index.js';
import { endpointFrom, ETCD_PKI, kindEtcdTls } from './kind-access.js';
import { KindCli } from './kind-cli.js';
import { KIND_PATHS, kindConfigYaml } from './kind-config.js';

export { endpointFrom } from './kind-access.js';

const MANIFEST = '/etc/kubernetes/manifests/kube-apiserver.yaml';
const PARKED = '/etc/kubernetes/kube-apiserver.yaml.kmslab-stopped';

export interface KindLabOptions {
  name?: string;
  /** Node image Kubernetes version. Default: K8S_VERSION, the one kmslab builds node images for. */
  k8sVersion?: string;
  /** Node image; default kmslab's own (kmslab/kind-node:<k8sVersion>, made by `kmslab build --images`). */
  image?: string;
  providerName?: string;
  encryption?: (socket: string, providerName: string) => EncryptionRule[];
  /** kind supports one control plane here (see docs/containers.md for what HA would need). */
  apiservers?: number;
  /** kind and docker executables; default `$KMSLAB_KIND`, else kmslab's kind v0.33.0 build, and docker from PATH. */
  kind?: string;
  docker?: string;
  readyTimeoutMs?: number;
  /** Remove the lab dir when the lab is closed (default: keep it, with its logs, until `kmslab down`). */
  removeOnClose?: boolean;
  signal?: AbortSignal;
  onProgress?: (message: string) => void;
}

/**
 * KindLab is a kind cluster wired to the fake KMS running on the host: the plugin's socket directory and the
 * encryption config directory are mounted into the node and into the apiserver pod (see kind-config.ts). Raw etcd is
 * read with kubeadm's etcd client certificate from the node's address. Linux only: Docker Desktop cannot share
 * unix sockets between the host and its VM.
 */
export class KindLab implements Lab {
  readonly backend = 'kind';
  readonly clock = realClock;
  readonly kmsSocket = KIND_PATHS.socket;
  readonly kms: LabKms;
  readonly apiservers: ApiOnlyApiserver[];
  private closed = false;

  private constructor(
    readonly record: LabRecord,
    readonly cli: KindCli,
    readonly plugin: KmsPluginProcess,
    readonly etcd: RawEtcd,
    private readonly kube: KubeApi,
    private readonly removeOnClose: boolean,
  ) {
    this.kms = controlKms(plugin.client, async () => {
      await plugin.crash();
      await plugin.start();
    });
    // The apiserver is a static pod: kubelet runs whatever manifest is in /etc/kubernetes/manifests.
    this.apiservers = [
      new ApiOnlyApiserver(kube, {
        resume: () => this.resumeApiserver(),
        halt: () => this.haltApiserver(),
        // Parking the manifest and putting it back gives kubelet a new pod: a real restart, without the crash-loop
        // back-off a killed container would collect over several restarts.
        bounce: async () => {
          await this.haltApiserver();
          await this.resumeApiserver();
        },
        writeEncryption: (rules) => this.writeEncryption(rules),
      }),
    ];
  }

  static async start(o: KindLabOptions = {}): Promise<KindLab> {
    if (process.platform !== 'linux') {
      throw new KmslabError(
        'usage',
        'the kind backend shares the plugin socket with the node through a host directory, which needs Linux; use the local backend',
      );
    }
    if ((o.apiservers ?? 1) !== 1) {
      throw new KmslabError(
        'usage',
        `the kind backend runs one control-plane node; ${o.apiservers} apiservers need the local backend (docs/containers.md says what HA kind would need)`,
      );
    }
    const name = o.name ?? 'kind';
    const say = o.onProgress ?? (() => undefined);
    const providerName = o.providerName ?? 'kmslab';
    checkProviderName(providerName);
    const k8sVersion = o.k8sVersion ?? K8S_VERSION;
    const image = o.image ?? kindNodeImage(k8sVersion);
    const engine = await dockerInfo(o.docker);
    if (!engine) {
      throw new KmslabError('failed', 'no container engine answers `docker info`; start one with: kmslab engine start');
    }
    if (!o.image && k8sVersion !== K8S_VERSION) {
      throw new KmslabError(
        'usage',
        `kmslab builds kind node images for Kubernetes ${K8S_VERSION} only; for ${k8sVersion} pass --image with a node image of that version already on your engine`,
      );
    }
    // kmslab never pulls: a missing node image fails here, before kind could ask the engine for it.
    await requireLocalImages(
      [image],
      o.image ? 'load it into the engine first' : 'build it with: kmslab build --images',
    );
    const kindBinary = o.kind ?? process.env.KMSLAB_KIND ?? (await findBinary('kind')).path;

    // The name is held for the whole start: a second start of it fails at once and never touches these files.
    const claim = await claimLab(name);
    try {
      return await KindLab.startIn(claim.dir, name, o, { say, providerName, k8sVersion, image, engine, kindBinary });
    } finally {
      await claim.release();
    }
  }

  private static async startIn(
    dir: string,
    name: string,
    o: KindLabOptions,
    prepared: {
      say: (m: string) => void;
      providerName: string;
      k8sVersion: string;
      image: string;
      engine: { runtimes: string[] };
      kindBinary: string;
    },
  ): Promise<KindLab> {
    const { say, providerName, k8sVersion, image, engine, kindBinary } = prepared;
    const path = (...p: string[]) => join(dir, ...p);
    for (const sub of ['logs', 'kms', 'encryption', ETCD_PKI.dir]) await mkdir(path(sub), { mode: 0o700 });
    // On an engine started by `kmslab engine start`, the node runs through kmslab's OCI runtime wrapper.
    const env = engine.runtimes.includes(RUNTIME_NAME)
      ? { ...process.env, PATH: shimPath(await writeDockerShim(path('bin'), { runtime: RUNTIME_NAME })) }
      : undefined;
    const cli = new KindCli(kindBinary, o.docker ?? 'docker', env);
    const cluster = `kmslab-${name}`;
    const record: LabRecord = {
      format: 1,
      name,
      backend: 'kind',
      kind: { cluster, binary: cli.kind, docker: cli.docker },
      dir,
      createdAt: new Date().toISOString(),
      status: 'starting',
      kubeconfig: path('kubeconfig'),
      apiservers: [],
      etcd: '',
      kms: {
        ...labKmsFiles(dir),
        provider: providerName,
      },
      encryptionConfig: path('encryption', 'encryption-config.yaml'),
      versions: { kubeApiserver: k8sVersion },
      processes: [],
      owner: identify(process.pid),
    };
    const plugin = new KmsPluginProcess(dir, record.kms);
    plugin.onSpawn = async () => {
      record.processes = plugin.process ? [plugin.process.record] : [];
      await writeLab(record);
    };
    await writeLab(record);
    let created = false;
    try {
      say('starting fake-kms on the host');
      await plugin.start();
      const rules = (o.encryption ?? ((s, n) => [kmsThenIdentity(n, s)]))(KIND_PATHS.socket, providerName);
      await writeFile(record.encryptionConfig, encryptionConfigYaml(rules), { mode: 0o600 });
      await writeFile(
        path('kind-config.yaml'),
        kindConfigYaml({
          name: cluster,
          k8sVersion,
          hostKmsDir: path('kms'),
          hostConfigDir: path('encryption'),
          image,
        }),
      );
      say(`creating kind cluster ${cluster} (${image})`);
      created = true;
      await cli.createCluster({
        name: cluster,
        config: path('kind-config.yaml'),
        kubeconfig: record.kubeconfig,
        ...(o.signal ? { signal: o.signal } : {}),
      });
      const endpoint = endpointFrom(await readFile(record.kubeconfig, 'utf8'));
      record.apiservers = [{ name: 'kube-apiserver', url: endpoint.server }];
      for (const f of [ETCD_PKI.ca, ETCD_PKI.cert, ETCD_PKI.key]) {
        await cli.nodeCopy(cluster, `/etc/kubernetes/pki/etcd/${f}`, path(ETCD_PKI.dir, f));
      }
      record.etcd = `https://${await cli.nodeIp(cluster)}:2379`;
      // kind ignores a kubeadm patch whose API version does not match the node's Kubernetes (a node image of
      // another version than --k8s-version): the apiserver would then run with no encryption config at all.
      const manifest = await cli.nodeExec(cluster, ['cat', '/etc/kubernetes/manifests/kube-apiserver.yaml']);
      if (!manifest.includes('--encryption-provider-config=')) {
        throw new KmslabError(
          'failed',
          `the kind node's kube-apiserver runs without --encryption-provider-config: kind dropped kmslab's kubeadm patch, which was written for ${k8sVersion}; pass --k8s-version with the node image's own Kubernetes version`,
        );
      }
      const kube = new KubeApi(endpoint);
      await waitUntilServing(kube, 'ready', 'kube-apiserver', o.readyTimeoutMs ?? 180_000);
      // A lab starts with no Secret, as on the local backend. kubeadm leaves its bootstrap token (encrypted under
      // the first key); a single node never joins another, and a Secret the scenarios do not own would outlive a
      // disabled key: a restarted apiserver then cannot fill its Secret watch cache and never turns ready.
      for (const ref of await kube.listSecrets()) {
        say(`removing kubeadm's Secret ${ref.namespace}/${ref.name} (a lab starts with no Secret)`);
        await kube.deleteSecret(ref);
      }
      const etcd = new RawEtcd(record.etcd, await kindEtcdTls(record));
      record.status = 'ready';
      await writeLab(record);
      return new KindLab(record, cli, plugin, etcd, kube, o.removeOnClose ?? false);
    } catch (error) {
      record.status = 'failed';
      record.error = (error as Error).message;
      if (created) {
        say(`collecting the cluster's logs into ${path('logs', 'kind')}`);
        await cli.exportLogs(cluster, path('logs', 'kind')).catch(() => undefined);
        await cli.deleteCluster(cluster).catch(() => undefined);
      }
      await plugin.stop().catch(() => undefined);
      await writeLab(record).catch(() => undefined);
      throw new KmslabError(
        'start-failed',
        `${(error as Error).message}\n(lab files and logs kept in ${dir}; remove them with kmslab down --name ${name})`,
        { cause: error },
      );
    }
  }

  get name(): string {
    return this.record.name;
  }

  get providerName(): string {
    return this.record.kms.provider;
  }

  get cluster(): string {
    return this.record.kind!.cluster;
  }

  get api() {
    return this.apiservers[0]!.api;
  }

  async collectLogs(target: string): Promise<string[]> {
    await mkdir(target, { recursive: true });
    for (const f of await readdir(join(this.record.dir, 'logs'))) {
      if (f !== 'kind') await copyFile(join(this.record.dir, 'logs', f), join(target, f));
    }
    await this.cli.exportLogs(this.cluster, join(target, 'kind')).catch(() => undefined);
    return readdir(target).then((fs) => fs.map((f) => join(target, f)));
  }

  /** loadImages makes local images available to the cluster's pods (imagePullPolicy Never): see KindCli.loadImages. */
  loadImages(tags: string[]): Promise<void> {
    return this.cli.loadImages(this.cluster, tags);
  }

  /** writeEncryption replaces the config in the mounted host directory; the apiserver pod sees the new file. */
  async writeEncryption(rules: EncryptionRule[]): Promise<string> {
    const yaml = encryptionConfigYaml(rules);
    await writeFile(`${this.record.encryptionConfig}.tmp`, yaml, { mode: 0o600 });
    await rename(`${this.record.encryptionConfig}.tmp`, this.record.encryptionConfig);
    return `sha256:${createHash('sha256').update(yaml).digest('hex')}`;
  }

  private apiserverContainer = async () =>
    (await this.cli.nodeExec(this.cluster, ['crictl', 'ps', '-q', '--name', 'kube-apiserver'])).trim();

  /** haltApiserver parks the static pod manifest: kubelet stops the apiserver pod. */
  private async haltApiserver(): Promise<void> {
    await this.cli.nodeExec(this.cluster, ['mv', MANIFEST, PARKED]);
    await poll(async () => ((await this.apiserverContainer()) === '' ? true : undefined), {
      timeoutMs: 120_000,
      intervalMs: 500,
      what: 'kubelet to stop the apiserver pod',
    });
  }

  /** resumeApiserver puts the manifest back: kubelet starts a new apiserver pod. */
  private async resumeApiserver(): Promise<void> {
    await this.cli.nodeExec(this.cluster, ['mv', PARKED, MANIFEST]);
    await poll(async () => ((await this.apiserverContainer()) !== '' ? true : undefined), {
      timeoutMs: 120_000,
      intervalMs: 500,
      what: 'kubelet to start an apiserver container',
    });
  }

  /**
   * pullAttempts reads the node's containerd and kubelet journals: every line showing an image pull (a CRI
   * PullImage call, kubelet's "Pulling image"), and how many lines were read (zero would mean nothing was checked).
   */
  async pullAttempts(): Promise<{ linesRead: number; pulls: string[] }> {
    const journal = await this.cli.nodeExec(this.cluster, [
      'journalctl',
      '--no-pager',
      '-o',
      'cat',
      '-u',
      'containerd',
      '-u',
      'kubelet',
    ]);
    const lines = journal.split('\n').filter(Boolean);
    return { linesRead: lines.length, pulls: lines.filter((l) => /PullImage|Pulling image|pulling from/i.test(l)) };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.etcd.close();
    this.kube.close();
    const errors: unknown[] = [];
    await this.cli.deleteCluster(this.cluster).catch((e: unknown) => errors.push(e));
    await this.plugin.stop().catch((e: unknown) => errors.push(e));
    this.record.status = 'stopped';
    if (this.removeOnClose) await rm(this.record.dir, { recursive: true, force: true });
    else await writeLab(this.record).catch((e: unknown) => errors.push(e));
    if (errors.length) throw new AggregateError(errors, `stopping kind lab ${this.name} failed`);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
