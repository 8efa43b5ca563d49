import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KmslabError } from '../../common/errors.js';
import { freePort } from '../../common/ports.js';
import { ApiHttp } from '../../kube/api-http.js';
import { ManagedProcess } from '../../process/managed-process.js';

/** Files every apiserver of a lab shares (HA members differ only in port and cert dir). */
export interface SharedApiserverFiles {
  tokenFile: string;
  token: string;
  serviceAccountKey: string;
  encryptionConfig: string;
  etcdUrl: string;
}

/**
 * ApiserverMember is one kube-apiserver process. Its serving cert is the one it generates itself into its cert
 * dir on first start and reuses on restart, so the lab's CA stays valid across restarts.
 */
export class ApiserverMember {
  process: ManagedProcess | undefined;
  /** Called right after the process is spawned, before it is ready (the lab records its pid then). */
  onSpawn: (() => Promise<void>) | undefined;
  readonly certDir: string;
  readonly logFile: string;
  private http: ApiHttp | undefined;

  private constructor(
    readonly name: string,
    readonly binary: string,
    readonly labDir: string,
    readonly port: number,
    readonly shared: SharedApiserverFiles,
    readonly extraArgs: string[],
  ) {
    this.certDir = join(labDir, name, 'certs');
    this.logFile = join(labDir, 'logs', `${name}.log`);
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
      `--encryption-provider-config=${s.encryptionConfig}`,
      '--encryption-provider-config-automatic-reload=true',
      // Several apiservers on one host share one advertise IP; without this they fight over the kubernetes Service endpoint.
      '--endpoint-reconciler-type=none',
      '--v=2',
      ...this.extraArgs,
    ];
  }

  /** start runs the apiserver and waits for an authenticated /readyz 200 (KMS included). */
  async start(timeoutMs = 180_000): Promise<void> {
    await mkdir(this.certDir, { recursive: true, mode: 0o700 });
    this.process = await ManagedProcess.spawn({
      name: this.name,
      command: this.binary,
      args: this.args(),
      logFile: this.logFile,
    });
    await this.onSpawn?.();
    await this.waitReady(timeoutMs);
  }

  /** waitReady polls /readyz until it answers 200; fails fast if the process exits. */
  async waitReady(timeoutMs = 180_000, path = '/readyz'): Promise<void> {
    const proc = this.process;
    if (!proc) throw new KmslabError('failed', `${this.name} is not started`);
    await proc.waitUntil(
      async () => {
        const res = await (await this.api()).get(path);
        if (res.status === 200) return true;
        throw new Error(`${path} answered ${res.status}: ${res.body.slice(0, 300).replaceAll('\n', ' ')}`);
      },
      { timeoutMs, intervalMs: 250, what: `${this.name} ${this.url}${path}` },
    );
  }

  /** caPem is the self-generated serving cert bundle (cert + its CA), usable as the lab's CA. */
  async caPem(): Promise<string> {
    return readFile(join(this.certDir, 'apiserver.crt'), 'utf8');
  }

  /** api returns an HTTPS client for this member, once its serving cert exists. */
  async api(): Promise<ApiHttp> {
    if (!this.http) {
      const caPem = await this.caPem();
      this.http = new ApiHttp({ server: this.url, caPem, token: this.shared.token });
    }
    return this.http;
  }

  async stop(): Promise<void> {
    this.http?.close();
    this.http = undefined;
    await this.process?.stop(20_000);
  }

  async restart(timeoutMs?: number): Promise<void> {
    await this.stop();
    await this.start(timeoutMs);
  }
}
