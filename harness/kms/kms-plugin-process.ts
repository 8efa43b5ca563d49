import { join } from 'node:path';
import { KmsControlClient } from '../../fake-kms/index.js';
import { packageRoot } from '../common/paths.js';
import { probes } from '../labs/probes.js';
import { ManagedProcess } from '../process/managed-process.js';

export interface KmsPluginPaths {
  socket: string;
  control: string;
  stateDir: string;
  auditFile: string;
}

/**
 * KmsPluginProcess runs the lab's KMS endpoint as its own process, as a real plugin runs beside the apiserver: the
 * fake KMS (`kmslab fake-kms serve`), or, with `upstream`, the proxy in front of an external plugin
 * (`kmslab proxy serve`). Killing it (SIGKILL) and starting it again with the same state is a real plugin crash.
 */
export class KmsPluginProcess {
  process: ManagedProcess | undefined;
  /** Called right after the process is spawned, before it is ready (the lab records its pid then). */
  onSpawn: (() => Promise<void>) | undefined;
  readonly client: KmsControlClient;
  readonly logFile: string;

  constructor(
    readonly labDir: string,
    readonly paths: KmsPluginPaths,
    readonly upstream?: string,
  ) {
    this.client = new KmsControlClient(paths.control);
    this.logFile = join(labDir, 'logs', `${this.name}.log`);
  }

  get name(): 'fake-kms' | 'kms-proxy' {
    return this.upstream ? 'kms-proxy' : 'fake-kms';
  }

  get running(): boolean {
    return this.process?.running ?? false;
  }

  async start(timeoutMs = 30_000, signal?: AbortSignal): Promise<void> {
    const p = this.paths;
    const serve = this.upstream
      ? ['proxy', 'serve', `--upstream=${this.upstream}`]
      : ['fake-kms', 'serve', `--state-dir=${p.stateDir}`];
    this.process = await ManagedProcess.spawn({
      name: this.name,
      command: process.execPath,
      args: [
        join(packageRoot, 'bin/kmslab.js'),
        ...serve,
        `--socket=${p.socket}`,
        `--control=${p.control}`,
        `--audit=${p.auditFile}`,
      ],
      logFile: this.logFile,
    });
    await this.onSpawn?.();
    await this.process.waitUntil(probes.kms(p.control), {
      timeoutMs,
      what: `${this.name} control socket ${p.control}`,
      ...(signal ? { signal } : {}),
    });
  }

  /** stop ends the plugin gracefully (SIGTERM): sockets are removed, the audit trail flushed. */
  async stop(): Promise<void> {
    await this.process?.stop(5_000);
  }

  /** crash kills the plugin with SIGKILL: its sockets stay behind as files nobody listens on. */
  async crash(): Promise<void> {
    await this.process?.kill('SIGKILL');
  }
}
