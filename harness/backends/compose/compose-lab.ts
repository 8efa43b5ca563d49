import { generateKeyPairSync, createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DockerComposeEnvironment, Wait, type StartedDockerComposeEnvironment } from 'testcontainers';
import { realClock } from '../../common/clock.js';
import { KmslabError } from '../../common/errors.js';
import { packageRoot } from '../../common/paths.js';
import { poll } from '../../common/wait.js';
import {
  checkProviderName,
  encryptionConfigYaml,
  kmsThenIdentity,
  type EncryptionRule,
} from '../../kube/encryption-config.js';
import { ApiOnlyApiserver } from '../../kube/api-only-apiserver.js';
import type { Lab, LabKms } from '../../lab.js';
import { KubeApi } from '../common/kube-api.js';
import { controlKms } from '../common/control-kms.js';
import { RawEtcd } from '../common/raw-etcd.js';
import { KmsControlClient } from '../../../fake-kms/index.js';

export interface ComposeLabOptions {
  name?: string;
  providerName?: string;
  encryption?: (socket: string, providerName: string) => EncryptionRule[];
  readyTimeoutMs?: number;
}

/** Paths inside the containers, fixed by docker-compose.yml. */
const IN_CONTAINER = { socket: '/run/kms/kms.sock' };

/**
 * ComposeLab runs the lab as containers (docker-compose.yml: etcd, fake-kms, kube-apiserver) through
 * testcontainers: up, an authenticated /readyz wait, and down. It needs a container engine; the host drives the
 * plugin through its control socket in the shared host directory (Linux hosts; Docker Desktop cannot share sockets).
 */
export class ComposeLab implements Lab {
  readonly backend = 'compose';
  readonly clock = realClock;
  readonly kmsSocket = IN_CONTAINER.socket;
  readonly apiservers: ApiOnlyApiserver[];
  private readonly kube: KubeApi;
  readonly etcd: RawEtcd;
  readonly kms: LabKms;

  private constructor(
    readonly name: string,
    readonly providerName: string,
    readonly dir: string,
    private readonly env: StartedDockerComposeEnvironment,
    token: string,
    caPem: string,
  ) {
    const api = env.getContainer('kube-apiserver-1');
    const server = `https://${api.getHost()}:${api.getMappedPort(6443)}`;
    this.kube = new KubeApi({ server, token, caPem });
    const apiserver = () => env.getContainer('kube-apiserver-1');
    this.apiservers = [
      new ApiOnlyApiserver(this.kube, {
        resume: async () => void (await apiserver().restart()),
        halt: async () => void (await apiserver().stop({ remove: false })),
        bounce: async () => void (await apiserver().restart()),
        writeEncryption: (rules) => this.writeEncryption(rules),
      }),
    ];
    const etcd = env.getContainer('etcd-1');
    this.etcd = new RawEtcd(`http://${etcd.getHost()}:${etcd.getMappedPort(2379)}`);
    const control = new KmsControlClient(join(dir, 'kms', 'control.sock'));
    this.kms = controlKms(control, async () => {
      await env.getContainer('fake-kms-1').restart();
      await poll(() => control.status(), { timeoutMs: 60_000, what: 'the fake-kms container' });
    });
  }

  static async start(options: ComposeLabOptions = {}): Promise<ComposeLab> {
    const name = options.name ?? `compose-${randomBytes(3).toString('hex')}`;
    const providerName = options.providerName ?? 'kmslab';
    checkProviderName(providerName);
    const dir = await mkdtemp(join(tmpdir(), `kmslab-${name}-`));
    for (const sub of ['config/encryption', 'kms', 'certs'])
      await mkdir(join(dir, sub), { recursive: true, mode: 0o700 });
    const token = randomBytes(24).toString('hex');
    await writeFile(join(dir, 'config/tokens.csv'), `${token},kmslab-admin,kmslab-admin,"system:masters"\n`, {
      mode: 0o600,
    });
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await writeFile(join(dir, 'config/service-account.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }), {
      mode: 0o600,
    });
    const rules = (options.encryption ?? ((s, n) => [kmsThenIdentity(n, s)]))(IN_CONTAINER.socket, providerName);
    await writeFile(join(dir, 'config/encryption/encryption-config.yaml'), encryptionConfigYaml(rules), {
      mode: 0o600,
    });
    let env: StartedDockerComposeEnvironment;
    try {
      env = await new DockerComposeEnvironment(packageRoot, 'docker-compose.yml')
        .withProjectName(`kmslab-${name}`)
        .withEnvironment({ KMSLAB_COMPOSE_DIR: dir })
        .withBuild()
        .withWaitStrategy(
          'kube-apiserver-1',
          Wait.forHttp('/readyz', 6443)
            .usingTls()
            .allowInsecure()
            .withHeaders({ Authorization: `Bearer ${token}` })
            .withStartupTimeout(options.readyTimeoutMs ?? 180_000),
        )
        .up();
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw new KmslabError('start-failed', `docker compose could not start the lab: ${(error as Error).message}`, {
        cause: error,
      });
    }
    const caPem = await readFile(join(dir, 'certs', 'apiserver.crt'), 'utf8');
    return new ComposeLab(name, providerName, dir, env, token, caPem);
  }

  get api() {
    return this.apiservers[0]!.api;
  }

  async collectLogs(target: string): Promise<string[]> {
    await mkdir(target, { recursive: true });
    const files: string[] = [];
    for (const service of ['etcd-1', 'fake-kms-1', 'kube-apiserver-1']) {
      const chunks: string[] = [];
      const stream = await this.env.getContainer(service).logs();
      await new Promise<void>((resolve) => {
        stream.on('data', (c: Buffer | string) => chunks.push(c.toString()));
        stream.on('end', () => resolve());
        setTimeout(resolve, 2_000);
      });
      const file = join(target, `${service}.log`);
      await writeFile(file, chunks.join(''));
      files.push(file);
    }
    return files;
  }

  async close(): Promise<void> {
    this.etcd.close();
    this.kube.close();
    await this.env.down({ removeVolumes: true });
    await rm(this.dir, { recursive: true, force: true });
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** writeEncryption replaces the mounted config file atomically (the directory is mounted, so the rename shows). */
  async writeEncryption(rules: EncryptionRule[]): Promise<string> {
    const yaml = encryptionConfigYaml(rules);
    const file = join(this.dir, 'config/encryption/encryption-config.yaml');
    await writeFile(`${file}.tmp`, yaml, { mode: 0o600 });
    await rename(`${file}.tmp`, file);
    return `sha256:${createHash('sha256').update(yaml).digest('hex')}`;
  }
}
