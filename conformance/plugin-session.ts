import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ExternalPluginProcess, pluginAnswers, runHook, type ExternalPlugin } from '../harness/kms/index.js';
import { sleep, poll } from '../harness/common/wait.js';
import { logTail } from '../harness/process/managed-process.js';
import { isTransportFailure, UpstreamPlugin } from '../proxy/index.js';
import { PluginDied, type PluginDeath, type PluginUnderTest } from './check.js';
import type { PluginSession } from './check-runner.js';

/** Where a session keeps what it must: the plugin's socket (a short private dir) and the logs (kept after the run). */
export interface SessionDirs {
  socketDir: string;
  logDir: string;
}

/**
 * ExternalPluginSession drives a user's plugin for the checks: kmslab's own process (`--plugin-cmd`) or one the
 * user runs (`--plugin-socket`), a client on its socket with the apiserver's 3 s timeout that reports invalid UTF-8
 * instead of refusing it, the hooks (their output in `kms-hooks.log`), and the plugin's end: a call that finds the
 * socket dead asks whether the process exited, so the check can name the exit instead of a connection error.
 */
export class ExternalPluginSession implements PluginSession {
  readonly plugin: PluginUnderTest;
  readonly canRestart: boolean;
  readonly socket: string;
  readonly hooksLog: string;
  readonly pluginLog: string | undefined;
  private readonly client: UpstreamPlugin;
  private readonly proc: ExternalPluginProcess | undefined;

  constructor(
    private readonly spec: ExternalPlugin,
    dirs: SessionDirs,
  ) {
    this.socket = spec.socket ?? join(dirs.socketDir, 'kms.sock');
    this.hooksLog = join(dirs.logDir, 'kms-hooks.log');
    this.pluginLog = spec.command ? join(dirs.logDir, 'kms-plugin.log') : undefined;
    this.proc = spec.command
      ? new ExternalPluginProcess(dirs.socketDir, this.socket, spec.command, this.pluginLog)
      : undefined;
    this.canRestart = Boolean(spec.command || spec.restartCommand);
    this.client = new UpstreamPlugin(this.socket, 3_000, { invalidUtf8: 'note' });
    this.plugin = this.watched(this.client);
  }

  /** start runs the plugin (or waits for the user's to answer) until it serves KMS v2. */
  async start(): Promise<void> {
    if (this.proc) {
      await mkdir(this.proc.labDir, { recursive: true, mode: 0o700 });
      await this.proc.start();
    } else {
      await poll(pluginAnswers(this.socket), {
        timeoutMs: 30_000,
        intervalMs: 250,
        what: `a KMS v2 plugin on ${this.socket}`,
      });
    }
  }

  hook(name: 'rotate' | 'disable' | 'enable', keyId: string): Promise<void> {
    return runHook(name, this.spec.hooks![name]!, { socket: this.socket, keyId }, this.hooksLog);
  }

  async restart(): Promise<void> {
    if (this.proc) {
      await this.proc.crash();
      await this.proc.start();
      return;
    }
    await runHook('restart', this.spec.restartCommand!, { socket: this.socket }, this.hooksLog);
    await poll(pluginAnswers(this.socket), {
      timeoutMs: 60_000,
      intervalMs: 250,
      what: `the plugin on ${this.socket}`,
    });
  }

  async death(graceMs: number): Promise<PluginDeath | undefined> {
    const p = this.proc?.process;
    if (p) {
      if (p.running && graceMs > 0) await Promise.race([p.exited, sleep(graceMs)]);
      if (p.running) return undefined;
      const lines = (await logTail(this.pluginLog!, 30).catch(() => '')).split('\n');
      return { how: await p.exited, logFile: this.pluginLog!, lastLines: lines };
    }
    if (this.proc || graceMs === 0) return undefined;
    // A plugin the user runs: gone when nothing answers on its socket any more.
    const alive = await pluginAnswers(this.socket)().catch(() => undefined);
    return alive ? undefined : { how: `nothing answers on ${this.socket} any more`, lastLines: [] };
  }

  async close(): Promise<void> {
    this.client.close();
    await this.proc?.stop();
  }

  // The client, with every call that gets no answer at all asking whether the plugin died.
  private watched(client: UpstreamPlugin): PluginUnderTest {
    const guard = async <T>(call: () => Promise<T>): Promise<T> => {
      try {
        return await call();
      } catch (error) {
        if (!isTransportFailure(error)) throw error;
        const death = await this.death(1000);
        throw death ? new PluginDied(death) : error;
      }
    };
    return {
      get invalidUtf8() {
        return client.invalidUtf8;
      },
      status: (o) => guard(() => client.status(o)),
      encrypt: (r, o) => guard(() => client.encrypt(r, o)),
      decrypt: (r, o) => guard(() => client.decrypt(r, o)),
    };
  }
}
