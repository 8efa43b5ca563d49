import { existsSync } from 'node:fs';
import { createConnection } from 'node:net';
import { appendFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { KmsCallError } from '../../fake-kms/index.js';
import { isTransportFailure, UpstreamPlugin } from '../../proxy/index.js';
import { KmslabError } from '../common/errors.js';
import { ManagedProcess } from '../process/managed-process.js';
import { runCommand } from '../process/run-command.js';
import { shellQuote } from '../common/shell-quote.js';
import type { Hook } from './plugin-spec.js';

/** ExternalPluginProcess runs a `--plugin-cmd` in its own process group and knows when it serves. */
export class ExternalPluginProcess {
  process: ManagedProcess | undefined;
  onSpawn: (() => Promise<void>) | undefined;
  readonly logFile: string;

  /** The plugin's output goes to `logFile`, by default the lab's `logs/kms-plugin.log`. */
  constructor(
    readonly labDir: string,
    readonly socket: string,
    readonly command: string,
    logFile?: string,
  ) {
    this.logFile = logFile ?? join(labDir, 'logs', 'kms-plugin.log');
  }

  async start(timeoutMs = 60_000, signal?: AbortSignal): Promise<void> {
    // The socket is in kmslab's own dir: a file left by a killed plugin is ours to clear, or the new one cannot bind.
    await rm(this.socket, { force: true });
    this.process = await ManagedProcess.spawn({
      name: 'kms-plugin',
      command: '/bin/sh',
      args: ['-c', this.command.replaceAll('{socket}', shellQuote(this.socket))],
      env: { ...process.env, KMSLAB_PLUGIN_SOCKET: this.socket },
      logFile: this.logFile,
    });
    await this.onSpawn?.();
    await this.process.waitUntil(pluginAnswers(this.socket), {
      timeoutMs,
      intervalMs: 250,
      what: `the plugin to serve KMS v2 on ${this.socket}`,
      ...(signal ? { signal } : {}),
    });
  }

  /** stop sends SIGTERM to the plugin's process group, then SIGKILL after 10 s. */
  async stop(): Promise<void> {
    await this.process?.stop(10_000);
  }

  /** crash kills the whole group with SIGKILL, as a node losing power would. */
  async crash(): Promise<void> {
    await this.process?.kill('SIGKILL');
  }
}

/**
 * pluginAnswers is a probe: something accepts connections on the socket and a Status call gets an answer from the
 * plugin itself — any answer, even an error the plugin returns (a plugin whose backend is down may fail Status), but
 * not a transport failure.
 */
export function pluginAnswers(socket: string): () => Promise<true | undefined> {
  return async () => {
    if (!existsSync(socket)) throw new Error(`no socket at ${socket} yet`);
    await new Promise<void>((resolve, reject) => {
      const c = createConnection(socket, () => {
        c.destroy();
        resolve();
      });
      c.once('error', reject);
    });
    const client = new UpstreamPlugin(socket, 3_000);
    try {
      await client.status();
      return true;
    } catch (error) {
      if (error instanceof KmsCallError && error.code !== GrpcStatus.DEADLINE_EXCEEDED && !isTransportFailure(error))
        return true;
      throw error;
    } finally {
      client.close();
    }
  };
}

/** runHook runs a user's hook command; its output goes to the lab's hooks log. */
export async function runHook(
  hook: Hook | 'restart',
  command: string,
  vars: { keyId?: string; socket: string },
  logFile: string,
  timeoutMs = 120_000,
): Promise<void> {
  const line = vars.keyId === undefined ? command : command.replaceAll('{keyId}', shellQuote(vars.keyId));
  const env = {
    ...process.env,
    KMSLAB_PLUGIN_SOCKET: vars.socket,
    ...(vars.keyId === undefined ? {} : { KMSLAB_KEY_ID: vars.keyId }),
  };
  const started = new Date().toISOString();
  try {
    const out = await runCommand('/bin/sh', ['-c', line], { env, timeoutMs });
    await appendFile(logFile, `${started} ${hook}: ${line}\n${out}`, { mode: 0o600 });
  } catch (error) {
    await appendFile(logFile, `${started} ${hook}: ${line}\n${(error as Error).message}\n`, { mode: 0o600 });
    throw new KmslabError('failed', `the ${hook} hook failed: ${(error as Error).message}`);
  }
}
