import { createHash } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { realClock } from '../../common/clock.js';
import { KmslabError } from '../../common/errors.js';
import { poll } from '../../common/wait.js';
import {
  checkProviderName,
  encryptionConfigYaml,
  kmsThenIdentity,
  type EncryptionRule,
} from '../../kube/encryption-config.js';
import { ApiOnlyApiserver } from '../../kube/api-only-apiserver.js';
import type { Lab, LabKms } from '../../lab.js';
import { assertNameFree, claimLabDir, writeLab, type LabRecord } from '../../labs/registry.js';
import { identify } from '../../process/process-identity.js';
import { KmsPluginProcess } from '../common/kms-plugin-process.js';
import { KubeApi } from '../common/kube-api.js';
import { RawEtcd } from '../common/raw-etcd.js';
import { controlKms } from '../common/control-kms.js';
import { KindCli } from './kind-cli.js';
import { KIND_PATHS, kindConfigYaml } from './kind-config.js';

const MANIFEST = '/etc/kubernetes/manifests/kube-apiserver.yaml';
const PARKED = '/etc/kubernetes/kube-apiserver.yaml.kmslab-stopped';

export interface KindLabOptions {
  name?: string;
  /** Node image Kubernetes version (kindest/node:<v>). Default v1.37.2. */
  k8sVersion?: string;
  image?: string;
  providerName?: string;
  encryption?: (socket: string, providerName: string) => EncryptionRule[];
  /** kind and docker executables; default `$KMSLAB_KIND`, else `kind` and `docker` from PATH. */
  kind?: string;
  docker?: string;
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
  ) {
    this.kms = controlKms(plugin.client, async () => {
      await plugin.crash();
      await plugin.start();
    });
    // The apiserver is a static pod: kubelet runs whatever manifest is in /etc/kubernetes/manifests.
    const containerId = async () =>
      (await cli.nodeExec(this.cluster, ['crictl', 'ps', '-q', '--name', 'kube-apiserver'])).trim();
    this.apiservers = [
      new ApiOnlyApiserver(kube, {
        resume: async () => void (await cli.nodeExec(this.cluster, ['mv', PARKED, MANIFEST])),
        halt: async () => {
          await cli.nodeExec(this.cluster, ['mv', MANIFEST, PARKED]);
          await poll(async () => ((await containerId()) === '' ? true : undefined), {
            timeoutMs: 120_000,
            what: 'the apiserver container to stop',
          });
        },
        bounce: async () => {
          const before = await containerId();
          await cli.nodeExec(this.cluster, ['crictl', 'stop', before]);
          await poll(
            async () => {
              const now = await containerId();
              return now !== '' && now !== before ? true : undefined;
            },
            { timeoutMs: 120_000, intervalMs: 1000, what: 'kubelet to start a new apiserver container' },
          );
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
    const name = o.name ?? 'kind';
    const say = o.onProgress ?? (() => undefined);
    const providerName = o.providerName ?? 'kmslab';
    checkProviderName(providerName);
    const k8sVersion = o.k8sVersion ?? 'v1.37.2';
    await assertNameFree(name);
    const cli = new KindCli(o.kind ?? process.env.KMSLAB_KIND ?? 'kind', o.docker ?? 'docker');
    const dir = await claimLabDir(name);
    const path = (...p: string[]) => join(dir, ...p);
    for (const sub of ['logs', 'kms', 'encryption', 'etcd-pki']) await mkdir(path(sub), { mode: 0o700 });
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
        socket: path('kms', 'kms.sock'),
        control: path('kms', 'control.sock'),
        provider: providerName,
        stateDir: path('kms-state'),
        auditFile: path('logs', 'kms-audit.jsonl'),
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
          ...(o.image ? { image: o.image } : {}),
        }),
      );
      say(`creating kind cluster ${cluster} (kindest/node:${k8sVersion})`);
      await cli.createCluster({
        name: cluster,
        config: path('kind-config.yaml'),
        kubeconfig: record.kubeconfig,
        ...(o.signal ? { signal: o.signal } : {}),
      });
      const endpoint = endpointFrom(await readFile(record.kubeconfig, 'utf8'));
      record.apiservers = [{ name: 'kube-apiserver', url: endpoint.server }];
      for (const f of ['ca.crt', 'healthcheck-client.crt', 'healthcheck-client.key']) {
        await cli.nodeCopy(cluster, `/etc/kubernetes/pki/etcd/${f}`, path('etcd-pki', f));
      }
      record.etcd = `https://${await cli.nodeIp(cluster)}:2379`;
      const pki = async (f: string) => readFile(path('etcd-pki', f));
      const etcd = new RawEtcd(record.etcd, {
        caPem: await pki('ca.crt'),
        certPem: await pki('healthcheck-client.crt'),
        keyPem: await pki('healthcheck-client.key'),
      });
      record.status = 'ready';
      await writeLab(record);
      return new KindLab(record, cli, plugin, etcd, new KubeApi(endpoint));
    } catch (error) {
      record.status = 'failed';
      record.error = (error as Error).message;
      await cli.deleteCluster(cluster).catch(() => undefined);
      await plugin.stop().catch(() => undefined);
      await writeLab(record).catch(() => undefined);
      throw error;
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
    for (const f of await readdir(join(this.record.dir, 'logs')))
      await copyFile(join(this.record.dir, 'logs', f), join(target, f));
    await this.cli.exportLogs(this.cluster, join(target, 'kind')).catch(() => undefined);
    return readdir(target).then((fs) => fs.map((f) => join(target, f)));
  }

  /** writeEncryption replaces the config in the mounted host directory; the apiserver pod sees the new file. */
  async writeEncryption(rules: EncryptionRule[]): Promise<string> {
    const yaml = encryptionConfigYaml(rules);
    await writeFile(`${this.record.encryptionConfig}.tmp`, yaml, { mode: 0o600 });
    await rename(`${this.record.encryptionConfig}.tmp`, this.record.encryptionConfig);
    return `sha256:${createHash('sha256').update(yaml).digest('hex')}`;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.etcd.close();
    this.kube.close();
    await this.cli.deleteCluster(this.cluster).catch(() => undefined);
    await this.plugin.stop();
    this.record.status = 'stopped';
    await writeLab(this.record);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** endpointFrom reads server, CA and client certificate of the first cluster and user of a kind kubeconfig. */
export function endpointFrom(kubeconfig: string): { server: string; caPem: string; certPem: string; keyPem: string } {
  const kc = parse(kubeconfig) as {
    clusters?: Array<{ cluster: { server: string; 'certificate-authority-data': string } }>;
    users?: Array<{ user: { 'client-certificate-data': string; 'client-key-data': string } }>;
  };
  const cluster = kc.clusters?.[0]?.cluster;
  const user = kc.users?.[0]?.user;
  if (!cluster || !user) throw new KmslabError('failed', 'kind wrote a kubeconfig without a cluster or user');
  const text = (b64: string) => Buffer.from(b64, 'base64').toString('utf8');
  return {
    server: cluster.server,
    caPem: text(cluster['certificate-authority-data']),
    certPem: text(user['client-certificate-data']),
    keyPem: text(user['client-key-data']),
  };
}
