import { join } from 'node:path';
import { KmsControlClient } from '../../../fake-kms/index.js';
import { repoRoot } from '../../common/paths.js';
import { probes } from '../../labs/probes.js';
import { ManagedProcess } from '../../process/managed-process.js';

export interface KmsPluginPaths {
  socket: string;
  control: string;
  stateDir: string;
  auditFile: string;
}

/**
 * KmsPluginProcess runs the fake KMS as its own process (`kmslab fake-kms serve`), as a real plugin runs beside
 * the apiserver. Killing it (SIGKILL) and starting it again with the same state dir is a real plugin crash.
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
  ) {
    this.client = new KmsControlClient(paths.control);
    this.logFile = join(labDir, 'logs', 'fake-kms.log');
  }

  get running(): boolean {
    return this.process?.running ?? false;
  }

  async start(timeoutMs = 30_000, signal?: AbortSignal): Promise<void> {
    const p = this.paths;
    this.process = await ManagedProcess.spawn({
      name: 'fake-kms',
      command: process.execPath,
      args: [
        join(repoRoot, 'bin/kmslab.js'),
        'fake-kms',
        'serve',
        `--socket=${p.socket}`,
        `--control=${p.control}`,
        `--state-dir=${p.stateDir}`,
        `--audit=${p.auditFile}`,
      ],
      logFile: this.logFile,
    });
    await this.onSpawn?.();
    await this.process.waitUntil(probes.kms(p.control), {
      timeoutMs,
      what: `fake-kms control socket ${p.control}`,
      ...(signal ? { signal } : {}),
    });
  }

  /** stop ends the plugin gracefully (SIGTERM): sockets are removed, the audit trail flushed. */
  async stop(): Promise<void> {
    await this.process?.stop(5_000);
  }

  /** crash kills the plugin with SIGKILL: its sockets stay behind as files nobody listens on. */
  async crash(): Promise<void> {
    const proc = this.process;
    if (!proc?.running) return;
    process.kill(proc.pid, 'SIGKILL');
    await proc.exited;
  }
}
