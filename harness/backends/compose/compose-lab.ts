import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdir, readdir, copyFile, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import type { StartedDockerComposeEnvironment } from 'testcontainers';
import type { ProgressListener } from '../../binaries/build.js';
import { realClock } from '../../common/clock.js';
import { KmslabError } from '../../common/errors.js';
import { freePort } from '../../common/ports.js';
import { packageRoot } from '../../common/paths.js';
import { poll } from '../../common/wait.js';
import { dockerInfo } from '../../engine/docker-engine.js';
import { shimPath, writeDockerShim } from '../../engine/docker-shim.js';
import { requireLocalImages } from '../../images/docker-images.js';
import { COMPOSE_IMAGES, ETCD_VERSION, K8S_VERSION } from '../../images/versions.js';
import {
  checkProviderName,
  encryptionConfigYaml,
  kmsThenIdentity,
  type EncryptionRule,
} from '../../kube/encryption-config.js';
import { ApiOnlyApiserver } from '../../kube/api-only-apiserver.js';
import { kubeconfigYaml } from '../../kube/kubeconfig.js';
import type { Lab, LabKms } from '../../lab.js';
import { claimLab, labDir, readLab, labKmsFiles, writeLab, type LabRecord } from '../../labs/registry.js';
import { identify } from '../../process/process-identity.js';
import { runCommand } from '../../process/run-command.js';
import { KmsControlClient } from '../../../fake-kms/index.js';
import { KubeApi } from '../common/kube-api.js';
import { controlKms } from '../../kms/index.js';
import { RawEtcd } from '../common/raw-etcd.js';
import { composeBinary, composeDown } from './compose-project.js';

export interface ComposeLabOptions {
  name?: string;
  providerName?: string;
  encryption?: (socket: string, providerName: string) => EncryptionRule[];
  /** docker-compose.yml runs one apiserver. */
  apiservers?: number;
  readyTimeoutMs?: number;
  /** Remove the lab dir when the lab is closed (default: keep it, with its logs, until `kmslab down`). */
  removeOnClose?: boolean;
  signal?: AbortSignal;
  onProgress?: (message: string) => void;
  onBuildProgress?: ProgressListener;
}

/** Paths inside the containers, fixed by docker-compose.yml. */
const IN_CONTAINER = { socket: '/run/kms/kms.sock' };

/** The images docker-compose.yml runs, as this process's environment names them (defaults: kmslab's own builds). */
export function composeImages(env: NodeJS.ProcessEnv = process.env): string[] {
  return [
    env.KMSLAB_ETCD_IMAGE ?? COMPOSE_IMAGES.etcd,
    env.KMSLAB_FAKE_KMS_IMAGE ?? COMPOSE_IMAGES.fakeKms,
    env.KMSLAB_KUBE_APISERVER_IMAGE ?? COMPOSE_IMAGES.kubeApiserver,
  ];
}

/**
 * ComposeLab runs the lab as containers (docker-compose.yml: etcd, fake-kms, kube-apiserver) through testcontainers
 * and Docker Compose v2 built here: up with explicit waits that need no shell in the images (etcd /health, the
 * apiserver's authenticated /readyz, the plugin's control socket), and down. The host drives the plugin through its
 * control socket in the shared lab directory (Linux hosts; Docker Desktop cannot share sockets). Recorded in the lab
 * registry, so `kmslab down` removes it even when its starter died.
 */
export class ComposeLab implements Lab {
  readonly backend = 'compose';
  readonly clock = realClock;
  readonly kmsSocket = IN_CONTAINER.socket;
  readonly apiservers: ApiOnlyApiserver[];
  readonly etcd: RawEtcd;
  readonly kms: LabKms;
  private closed = false;

  private constructor(
    readonly record: LabRecord,
    private readonly env: StartedDockerComposeEnvironment,
    private readonly kube: KubeApi,
    private readonly removeOnClose: boolean,
  ) {
    const container = (service: string) => env.getContainer(`${service}-1`).getId();
    this.apiservers = [
      new ApiOnlyApiserver(kube, {
        resume: async () => void (await docker(['start', container('kube-apiserver')])),
        halt: async () => void (await docker(['stop', '--time', '20', container('kube-apiserver')])),
        bounce: async () => void (await docker(['restart', '--time', '20', container('kube-apiserver')])),
        writeEncryption: (rules) => this.writeEncryption(rules),
      }),
    ];
    this.etcd = new RawEtcd(record.etcd);
    const control = new KmsControlClient(record.kms.control);
    // A plugin crash: SIGKILL, then the same container (same state dir) starts again.
    this.kms = controlKms(control, async () => {
      await docker(['kill', '--signal', 'KILL', container('fake-kms')]);
      await docker(['start', container('fake-kms')]);
      await poll(() => control.status(), { timeoutMs: 60_000, what: 'the fake-kms container' });
    });
  }

  static async start(o: ComposeLabOptions = {}): Promise<ComposeLab> {
    if ((o.apiservers ?? 1) !== 1) {
      throw new KmslabError('usage', `the compose backend runs one apiserver; ${o.apiservers} need the local backend`);
    }
    const name = o.name ?? `compose-${randomBytes(3).toString('hex')}`;
    const say = o.onProgress ?? (() => undefined);
    const providerName = o.providerName ?? 'kmslab';
    checkProviderName(providerName);
    if (!(await dockerInfo())) {
      throw new KmslabError('failed', 'no container engine answers `docker info`; start one with: kmslab engine start');
    }
    const project = `kmslab-${name}`;
    await assertComposeNameFree(name, project);
    // kmslab never pulls: every image must be on the engine before compose could ask for it.
    await requireLocalImages(composeImages());
    const compose = await composeBinary(o.onBuildProgress);

    // The name is held for the whole start: a second start of it fails at once and never touches these files.
    const claim = await claimLab(name);
    try {
      return await ComposeLab.startIn(claim.dir, name, o, { say, providerName, project, compose });
    } finally {
      await claim.release();
    }
  }

  private static async startIn(
    dir: string,
    name: string,
    o: ComposeLabOptions,
    prepared: { say: (m: string) => void; providerName: string; project: string; compose: string },
  ): Promise<ComposeLab> {
    const { say, providerName, project, compose } = prepared;
    const path = (...p: string[]) => join(dir, ...p);
    for (const sub of ['config/encryption', 'kms', 'kms-state', 'logs', 'kube-apiserver/certs']) {
      await mkdir(path(sub), { recursive: true, mode: 0o700 });
    }
    const token = randomBytes(24).toString('hex');
    await writeFile(path('config/tokens.csv'), `${token},kmslab-admin,kmslab-admin,"system:masters"\n`, {
      mode: 0o600,
    });
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await writeFile(path('config/service-account.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }), {
      mode: 0o600,
    });
    const rules = (o.encryption ?? ((s, n) => [kmsThenIdentity(n, s)]))(IN_CONTAINER.socket, providerName);
    await writeFile(path('config/encryption/encryption-config.yaml'), encryptionConfigYaml(rules), { mode: 0o600 });
    const ports = { apiserver: await freePort(), etcd: await freePort() };
    const record: LabRecord = {
      format: 1,
      name,
      backend: 'compose',
      compose: { project, dir },
      dir,
      createdAt: new Date().toISOString(),
      status: 'starting',
      kubeconfig: path('kubeconfig'),
      apiservers: [{ name: 'kube-apiserver', url: `https://127.0.0.1:${ports.apiserver}` }],
      etcd: `http://127.0.0.1:${ports.etcd}`,
      kms: {
        ...labKmsFiles(dir),
        provider: providerName,
      },
      encryptionConfig: path('config/encryption/encryption-config.yaml'),
      versions: { kubeApiserver: K8S_VERSION, etcd: ETCD_VERSION },
      processes: [],
      owner: identify(process.pid),
    };
    await writeLab(record);

    // testcontainers: no ryuk (its image would be pulled) and no host probe container (it would pull alpine).
    process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
    process.env.TESTCONTAINERS_HOST_OVERRIDE ??= 'localhost';
    const { DockerComposeEnvironment, Wait } = await import('testcontainers');
    let env: StartedDockerComposeEnvironment | undefined;
    const abort = () => void composeDown(project, dir).catch(() => undefined);
    o.signal?.addEventListener('abort', abort, { once: true });
    try {
      say(`docker compose up (project ${project})`);
      env = await new DockerComposeEnvironment(packageRoot, 'docker-compose.yml')
        .withProjectName(project)
        .withEnvironment({
          KMSLAB_COMPOSE_DIR: dir,
          KMSLAB_APISERVER_PORT: String(ports.apiserver),
          KMSLAB_ETCD_PORT: String(ports.etcd),
          // testcontainers runs `docker compose`: the shim runs kmslab's Compose v2 for it.
          PATH: shimPath(await writeDockerShim(path('bin'), { compose })),
        })
        .withStartupTimeout(o.readyTimeoutMs ?? 180_000)
        // Explicit waits from the host: etcd and the apiserver images have no shell for the default port check.
        .withWaitStrategy('etcd-1', Wait.forHttp('/health', 2379))
        .withWaitStrategy(
          'kube-apiserver-1',
          Wait.forHttp('/readyz', 6443)
            .usingTls()
            .allowInsecure()
            .withHeaders({ Authorization: `Bearer ${token}` }),
        )
        .up();
      if (o.signal?.aborted) throw new KmslabError('failed', 'interrupted');
      const control = new KmsControlClient(record.kms.control);
      await poll(() => control.status(), { timeoutMs: 30_000, what: `fake-kms control socket ${record.kms.control}` });
      const caPem = await readFile(path('kube-apiserver/certs/apiserver.crt'), 'utf8');
      await writeFile(
        record.kubeconfig,
        kubeconfigYaml({ name: project, server: record.apiservers[0]!.url, caPem, token }),
        { mode: 0o600 },
      );
      const kube = new KubeApi({ server: record.apiservers[0]!.url, token, caPem });
      record.status = 'ready';
      await writeLab(record);
      return new ComposeLab(record, env, kube, o.removeOnClose ?? false);
    } catch (error) {
      record.status = 'failed';
      record.error = (error as Error).message;
      await saveComposeLogs(project, path('logs')).catch(() => undefined);
      await composeDown(project, dir).catch(() => undefined);
      await writeLab(record).catch(() => undefined);
      throw new KmslabError(
        'start-failed',
        `docker compose could not start the lab: ${(error as Error).message}\n(lab files and logs kept in ${dir}; remove them with kmslab down --name ${name})`,
        { cause: error },
      );
    } finally {
      o.signal?.removeEventListener('abort', abort);
    }
  }

  get name(): string {
    return this.record.name;
  }

  get providerName(): string {
    return this.record.kms.provider;
  }

  get api() {
    return this.apiservers[0]!.api;
  }

  async collectLogs(target: string): Promise<string[]> {
    await mkdir(target, { recursive: true });
    await saveComposeLogs(this.record.compose!.project, target);
    for (const f of await readdir(join(this.record.dir, 'logs'))) {
      await copyFile(join(this.record.dir, 'logs', f), join(target, f));
    }
    return (await readdir(target)).map((f) => join(target, f));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.etcd.close();
    this.kube.close();
    const errors: unknown[] = [];
    await this.env.down({ removeVolumes: true, timeout: 5_000 }).catch((e: unknown) => errors.push(e));
    this.record.status = 'stopped';
    if (this.removeOnClose) await rm(this.record.dir, { recursive: true, force: true });
    else await writeLab(this.record).catch((e: unknown) => errors.push(e));
    if (errors.length) throw new AggregateError(errors, `stopping compose lab ${this.name} failed`);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** writeEncryption replaces the mounted config file atomically (the directory is mounted, so the rename shows). */
  async writeEncryption(rules: EncryptionRule[]): Promise<string> {
    const yaml = encryptionConfigYaml(rules);
    const file = this.record.encryptionConfig;
    await writeFile(`${file}.tmp`, yaml, { mode: 0o600 });
    await rename(`${file}.tmp`, file);
    return `sha256:${createHash('sha256').update(yaml).digest('hex')}`;
  }
}

const docker = (args: string[]) => runCommand('docker', args, { timeoutMs: 120_000 });

/** saveComposeLogs writes each container's output (docker logs) of a compose project into dir. */
async function saveComposeLogs(project: string, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const ids = (await docker(['ps', '-a', '-q', '--filter', `label=com.docker.compose.project=${project}`]))
    .split('\n')
    .filter(Boolean);
  for (const id of ids) {
    const service = (
      await docker(['inspect', '--format', '{{index .Config.Labels "com.docker.compose.service"}}', id])
    ).trim();
    const r = await execa('docker', ['logs', '--timestamps', id], { reject: false, all: true });
    await writeFile(join(dir, `${service}.log`), String(r.all ?? ''));
  }
}

/** A compose lab of that name whose containers still run is taken (it has no host process for the registry to see). */
async function assertComposeNameFree(name: string, project: string): Promise<void> {
  const existing = await readLab(name);
  if (!existing?.compose) return;
  const running = await docker(['ps', '-q', '--filter', `label=com.docker.compose.project=${project}`]);
  if (running.trim()) {
    throw new KmslabError(
      'conflict',
      `lab "${name}" is already running (${labDir(name)}); use another --name, or stop it with: kmslab down --name ${name}`,
    );
  }
}
