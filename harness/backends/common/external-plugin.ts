import { existsSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { KmsCallError } from '../../../fake-kms/index.js';
import { UpstreamPlugin } from '../../../proxy/index.js';
import { KmslabError } from '../../common/errors.js';
import { ManagedProcess } from '../../process/managed-process.js';
import { runCommand } from '../../process/run-command.js';

/** The key lifecycle a user can hand kmslab as shell commands, for a plugin kmslab does not own. */
export const HOOKS = ['rotate', 'disable', 'enable', 'destroy'] as const;
export type Hook = (typeof HOOKS)[number];

/**
 * ExternalPlugin is a KMS v2 plugin that is not kmslab's: run by kmslab from a shell command (`command`, serving
 * on `{socket}`), or run by the user on a socket of their own (`socket`). Hooks are shell commands that exit 0
 * when done; `{keyId}` and `$KMSLAB_KEY_ID` carry the key_id to act on.
 */
export interface ExternalPlugin {
  command?: string;
  socket?: string;
  /** How to restart a plugin the user runs (restart steps need it); a `command` plugin is restarted by kmslab. */
  restartCommand?: string;
  hooks?: Partial<Record<Hook, string>>;
}

/** checkExternalPlugin refuses a plugin description that cannot work, saying what to give instead. */
export function checkExternalPlugin(p: ExternalPlugin): void {
  if (Boolean(p.command) === Boolean(p.socket)) {
    throw new KmslabError(
      'usage',
      'give exactly one of --plugin-cmd (kmslab runs the plugin) or --plugin-socket (you run it)',
    );
  }
  if (p.command && !p.command.includes('{socket}')) {
    throw new KmslabError(
      'usage',
      '--plugin-cmd must say where to serve: put {socket} in it (e.g. --plugin-cmd "my-plugin --listen unix://{socket}")',
    );
  }
  if (p.socket && !isAbsolute(p.socket)) {
    throw new KmslabError('usage', `--plugin-socket ${p.socket} must be an absolute path to the plugin's unix socket`);
  }
  if (p.restartCommand && p.command) {
    throw new KmslabError(
      'usage',
      '--restart-cmd is for --plugin-socket; kmslab restarts a --plugin-cmd plugin itself',
    );
  }
}

/** shellQuote makes a value safe to put into a shell command line. */
export function shellQuote(value: string): string {
  return /^[\w./:@%+=,-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}

/** ExternalPluginProcess runs a `--plugin-cmd` in its own process group and knows when it serves. */
export class ExternalPluginProcess {
  process: ManagedProcess | undefined;
  onSpawn: (() => Promise<void>) | undefined;
  readonly logFile: string;

  constructor(
    readonly labDir: string,
    readonly socket: string,
    readonly command: string,
  ) {
    this.logFile = join(labDir, 'logs', 'kms-plugin.log');
  }

  async start(timeoutMs = 60_000, signal?: AbortSignal): Promise<void> {
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
 * pluginAnswers is a probe: the socket exists and a Status call gets an answer from the plugin itself — any answer,
 * even an error the plugin returns, but not "nothing listens here".
 */
export function pluginAnswers(socket: string): () => Promise<true | undefined> {
  return async () => {
    if (!existsSync(socket)) throw new Error(`no socket at ${socket} yet`);
    const client = new UpstreamPlugin(socket, 3_000);
    try {
      await client.status();
      return true;
    } catch (error) {
      if (
        error instanceof KmsCallError &&
        error.code !== GrpcStatus.UNAVAILABLE &&
        error.code !== GrpcStatus.DEADLINE_EXCEEDED
      )
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
