import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KmslabError } from '../../common/errors.js';
import { freePort, onFreshPorts } from '../../common/ports.js';
import { ApiHttp } from '../../kube/api-http.js';
import { encryptionConfigYaml, type EncryptionRule } from '../../kube/encryption-config.js';
import { reloadFailures, reloadOutcome } from '../../kube/reload.js';
import type { ConfigChange, LabApiserver, StartWait } from '../../lab.js';
import { KubeApi } from '../common/kube-api.js';
import { probes } from '../../labs/probes.js';
import { logTail, ManagedProcess } from '../../process/managed-process.js';

/** Files every apiserver of a lab shares. Each member has its own encryption config, as each HA node has its own file. */
export interface SharedApiserverFiles {
  tokenFile: string;
  token: string;
  serviceAccountKey: string;
  etcdUrl: string;
}

/**
 * ApiserverMember is one kube-apiserver process. Its serving cert is the one it generates itself into its cert
 * dir on first start and reuses on restart, so the lab's CA stays valid across restarts.
 */
export class ApiserverMember implements LabApiserver {
  process: ManagedProcess | undefined;
  readonly encryptionConfig: string;
  /** Called right after the process is spawned, before it is ready (the lab records its pid then). */
  onSpawn: (() => Promise<void>) | undefined;
  readonly certDir: string;
  readonly logFile: string;
  private http: ApiHttp | undefined;
  private kube: KubeApi | undefined;

  private constructor(
    readonly name: string,
    private binary: string,
    readonly labDir: string,
    public port: number,
    readonly shared: SharedApiserverFiles,
    readonly extraArgs: string[],
  ) {
    this.certDir = join(labDir, name, 'certs');
    this.logFile = join(labDir, 'logs', `${name}.log`);
    this.encryptionConfig = join(labDir, name, 'encryption-config.yaml');
  }

  static async create(
    name: string,
    binary: string,
    labDir: string,
    shared: SharedApiserverFiles,
    extraArgs: string[] = [],
  ): Promise<ApiserverMember> {
    return new ApiserverMember(name, binary, labDir, await freePort(), shared, extraArgs);
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.process?.running ?? false;
  }

  args(): string[] {
    const s = this.shared;
    return [
      `--etcd-servers=${s.etcdUrl}`,
      `--cert-dir=${this.certDir}`,
      `--secure-port=${this.port}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      '--service-cluster-ip-range=10.0.0.0/24',
      '--allow-privileged=true',
      '--disable-admission-plugins=ServiceAccount',
      '--authorization-mode=RBAC',
      `--token-auth-file=${s.tokenFile}`,
      `--service-account-issuer=https://127.0.0.1:${this.port}/`,
      `--service-account-key-file=${s.serviceAccountKey}`,
      `--service-account-signing-key-file=${s.serviceAccountKey}`,
      `--encryption-provider-config=${this.encryptionConfig}`,
      '--encryption-provider-config-automatic-reload=true',
      // Several apiservers on one host share one advertise IP; without this they fight over the kubernetes Service endpoint.
      '--endpoint-reconciler-type=none',
      '--v=2',
      ...this.extraArgs,
    ];
  }

  /** api is the typed API through this member; it exists once the member has started (and made its cert). */
  get api(): KubeApi {
    if (!this.kube) throw new KmslabError('failed', `${this.name} has not started yet`);
    return this.kube;
  }

  /** writeEncryption replaces this member's EncryptionConfiguration file atomically (the reload poller never sees half a file). */
  async writeEncryption(rules: EncryptionRule[]): Promise<string> {
    await mkdir(join(this.labDir, this.name), { recursive: true, mode: 0o700 });
    const yaml = encryptionConfigYaml(rules);
    const temp = `${this.encryptionConfig}.tmp`;
    await writeFile(temp, yaml, { mode: 0o600 });
    await rename(temp, this.encryptionConfig);
    return `sha256:${createHash('sha256').update(yaml).digest('hex')}`;
  }

  /**
   * setEncryption installs new rules. `restart` restarts on them. `reload` waits until the running apiserver
   * reports the new file's hash in `apiserver_encryption_config_controller_last_config_info` (it polls the file
   * about once a minute), and fails at once if it counts a failed reload.
   */
  async setEncryption(rules: EncryptionRule[], how: ConfigChange, timeoutMs = 180_000): Promise<void> {
    if (how === 'restart' || !this.running) {
      await this.writeEncryption(rules);
      if (how === 'restart') await this.restart();
      return;
    }
    const failuresBefore = reloadFailures(await this.metrics());
    const hash = await this.writeEncryption(rules);
    await this.process!.waitUntil(
      async () => reloadOutcome(await this.metrics(), hash, failuresBefore, `${this.name} (log: ${this.logFile})`),
      { timeoutMs, intervalMs: 1000, what: `${this.name} to load encryption config ${hash}` },
    );
  }

  async metrics(): Promise<string> {
    const res = await (await this.clients()).get('/metrics');
    if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
    return res.body;
  }

  /** start runs the apiserver and waits for an authenticated /readyz 200 (KMS included), or /livez for `live`. */
  async start(wait: StartWait = 'ready', timeoutMs = 180_000, signal?: AbortSignal): Promise<void> {
    await onFreshPorts(
      () => this.startOnce(wait, timeoutMs, signal),
      async () => {
        this.port = await freePort();
        this.close();
        this.http = this.kube = undefined;
      },
      () => logTail(this.logFile, 5),
    );
  }

  private async startOnce(wait: StartWait, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    await mkdir(this.certDir, { recursive: true, mode: 0o700 });
    this.process = await ManagedProcess.spawn({
      name: this.name,
      command: this.binary,
      args: this.args(),
      logFile: this.logFile,
    });
    await this.onSpawn?.();
    await this.waitReady(timeoutMs, wait === 'live' ? '/livez' : '/readyz', signal);
  }

  /** waitReady polls /readyz until it answers 200; fails fast if the process exits. */
  async waitReady(timeoutMs = 180_000, path: '/readyz' | '/livez' = '/readyz', signal?: AbortSignal): Promise<void> {
    const proc = this.process;
    if (!proc) throw new KmslabError('failed', `${this.name} is not started`);
    await proc.waitUntil(
      probes.apiserver(() => this.clients(), path),
      {
        timeoutMs,
        intervalMs: 250,
        what: `${this.name} ${this.url}${path}`,
        ...(signal ? { signal } : {}),
      },
    );
  }

  /** caPem is the self-generated serving cert bundle (cert + its CA), usable as the lab's CA. */
  async caPem(): Promise<string> {
    return readFile(join(this.certDir, 'apiserver.crt'), 'utf8');
  }

  // The raw and typed clients, made once the serving cert exists (the apiserver writes it early in its start).
  private async clients(): Promise<ApiHttp> {
    if (!this.http) {
      const caPem = await this.caPem();
      this.http = new ApiHttp({ server: this.url, caPem, token: this.shared.token });
      this.kube = new KubeApi({ server: this.url, caPem, token: this.shared.token });
    }
    return this.http;
  }

  async stop(): Promise<void> {
    await this.process?.stop(20_000);
  }

  async restart(wait: StartWait = 'ready', timeoutMs?: number): Promise<void> {
    await this.stop();
    await this.start(wait, timeoutMs);
  }

  /** restartOn restarts this member on another kube-apiserver binary (an upgrade or a rollback), same flags and state. */
  async restartOn(binary: string, wait: StartWait = 'ready'): Promise<void> {
    await this.stop();
    this.binary = binary;
    await this.start(wait);
  }

  /** close releases client connections; the lab calls it after the process is stopped for good. */
  close(): void {
    this.http?.close();
    this.kube?.close();
  }
}
