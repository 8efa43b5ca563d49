import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, onFreshPorts } from '../../common/ports.js';
import { probes } from '../../labs/probes.js';
import { logTail, ManagedProcess } from '../../process/managed-process.js';

/** EtcdMember is one etcd server on 127.0.0.1 with its data under the lab dir; plain http, as envtest runs it. */
export class EtcdMember {
  process: ManagedProcess | undefined;
  /** Called right after the process is spawned, before it is ready (the lab records its pid then). */
  onSpawn: (() => Promise<void>) | undefined;
  readonly dataDir: string;
  readonly logFile: string;

  private constructor(
    readonly binary: string,
    readonly labDir: string,
    public clientPort: number,
    public peerPort: number,
  ) {
    this.dataDir = join(labDir, 'etcd-data');
    this.logFile = join(labDir, 'logs', 'etcd.log');
  }

  static async create(binary: string, labDir: string): Promise<EtcdMember> {
    return new EtcdMember(binary, labDir, await freePort(), await freePort());
  }

  get url(): string {
    return `http://127.0.0.1:${this.clientPort}`;
  }

  async start(timeoutMs = 60_000, signal?: AbortSignal): Promise<void> {
    await onFreshPorts(
      () => this.startOnce(timeoutMs, signal),
      async () => {
        this.clientPort = await freePort();
        this.peerPort = await freePort();
      },
      () => logTail(this.logFile, 5),
    );
  }

  private async startOnce(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    await mkdir(this.dataDir, { recursive: true, mode: 0o700 });
    const peer = `http://127.0.0.1:${this.peerPort}`;
    this.process = await ManagedProcess.spawn({
      name: 'etcd',
      command: this.binary,
      logFile: this.logFile,
      args: [
        '--name=kmslab',
        `--data-dir=${this.dataDir}`,
        `--listen-client-urls=${this.url}`,
        `--advertise-client-urls=${this.url}`,
        `--listen-peer-urls=${peer}`,
        `--initial-advertise-peer-urls=${peer}`,
        `--initial-cluster=kmslab=${peer}`,
        // A lab's data is disposable; skipping fsync makes a 2-core CI machine several times faster.
        '--unsafe-no-fsync=true',
      ],
    });
    await this.onSpawn?.();
    await this.process.waitUntil(probes.etcd(this.url), {
      timeoutMs,
      what: `etcd on ${this.url}/health`,
      ...(signal ? { signal } : {}),
    });
  }

  async stop(): Promise<void> {
    await this.process?.stop();
  }

  /** crash kills etcd with SIGKILL: its data dir stays as a crash leaves it. */
  async crash(): Promise<void> {
    await this.process?.kill('SIGKILL');
  }
}
