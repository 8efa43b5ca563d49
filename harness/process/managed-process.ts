import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { KmslabError } from '../common/errors.js';
import { GiveUp, poll } from '../common/wait.js';
import { identify, isRunning, type ProcessIdentity } from './process-identity.js';

export interface SpawnOptions {
  /** Short name used in messages and records, e.g. `etcd`. */
  name: string;
  command: string;
  args: string[];
  /** stdout and stderr are appended here; the file outlives the process for post-mortems. */
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/**
 * ProcessRecord is what a lab keeps on disk so that `kmslab down` can stop a process its starter left behind, and
 * `kmslab restart` can start it again the same way. The environment is not recorded (it may hold secrets): a
 * restart runs with the restarting shell's.
 */
export interface ProcessRecord extends ProcessIdentity {
  name: string;
  logFile: string;
  command: string;
  args: string[];
  cwd?: string;
}

/**
 * ManagedProcess is a server kmslab started: its own process group (so a terminal's Ctrl-C reaches kmslab first,
 * which then stops servers in order) and output straight into a log file (so it keeps running when kmslab exits).
 */
export class ManagedProcess {
  readonly record: ProcessRecord;
  /** exited resolves with the exit code or signal once the process is gone. */
  readonly exited: Promise<string>;
  private done = false;

  private constructor(
    child: ChildProcess,
    readonly options: SpawnOptions,
  ) {
    this.record = {
      ...identify(child.pid!),
      name: options.name,
      logFile: options.logFile,
      command: options.command,
      args: options.args,
      ...(options.cwd ? { cwd: options.cwd } : {}),
    };
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.done = true;
        resolve(signal ?? `exit code ${code}`);
      }),
    );
  }

  static async spawn(options: SpawnOptions): Promise<ManagedProcess> {
    const log = openSync(options.logFile, 'a', 0o600);
    let child: ChildProcess;
    try {
      child = spawn(options.command, options.args, {
        cwd: options.cwd,
        env: options.env ?? process.env,
        detached: true,
        stdio: ['ignore', log, log],
      });
    } finally {
      closeSync(log);
    }
    const spawned = await new Promise<Error | null>((resolve) => {
      child.once('spawn', () => resolve(null));
      child.once('error', resolve);
    });
    if (spawned) {
      throw new KmslabError('start-failed', `could not start ${options.name} (${options.command}): ${spawned.message}`);
    }
    child.unref();
    return new ManagedProcess(child, options);
  }

  get pid(): number {
    return this.record.pid;
  }

  get running(): boolean {
    return !this.done;
  }

  /** stop sends SIGTERM to the process group, then SIGKILL after `graceMs`; resolves once it is gone. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.done) return;
    await stopRecorded(this.record, graceMs, this.exited);
  }

  /**
   * kill signals the whole process group at once (SIGKILL: a crash) and resolves once the process is gone. It polls
   * on a timer rather than only awaiting the exit event: the child is unref'd, and an exit event alone would not keep
   * this process alive to see it.
   */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.done) return;
    signalGroup(this.pid, signal);
    if (!(await gone(this.record, 10_000, this.exited))) {
      throw new KmslabError('failed', `${this.options.name} (pid ${this.pid}) did not die on ${signal}`);
    }
  }

  /**
   * waitUntil polls `attempt` until it yields a value; it gives up at once if the process exits, and its error
   * carries the end of the process's log, which usually says why.
   */
  async waitUntil<T>(
    attempt: () => Promise<T | undefined>,
    options: { timeoutMs: number; what: string; intervalMs?: number; signal?: AbortSignal },
  ): Promise<T> {
    try {
      return await poll(attempt, {
        ...options,
        abortIf: async () => {
          if (options.signal?.aborted) throw new Interrupted();
          if (this.done) throw new Error(`${this.options.name} exited (${await this.exited})`);
        },
      });
    } catch (error) {
      if (error instanceof Interrupted)
        throw new KmslabError('failed', `interrupted while waiting for ${options.what}`);
      if (error instanceof GiveUp) throw new KmslabError('failed', error.message);
      throw new KmslabError(
        'start-failed',
        `${this.options.name} is not ready: ${(error as Error).message}\n--- last lines of ${this.options.logFile} ---\n${await this.logTail(20)}`,
      );
    }
  }

  /** logTail returns the last lines of the log, for error messages. */
  logTail(lines = 30): Promise<string> {
    return logTail(this.options.logFile, lines);
  }
}

class Interrupted extends Error {}

/**
 * stopRecorded stops a process known only by its record (its starter may be gone): SIGTERM to its group,
 * SIGKILL after `graceMs`. It never signals a pid that now belongs to another process.
 */
export async function stopRecorded(
  record: ProcessIdentity,
  graceMs = 10_000,
  exited?: Promise<unknown>,
): Promise<void> {
  if (!isRunning(record)) return;
  signalGroup(record.pid, 'SIGTERM');
  if (await gone(record, graceMs, exited)) return;
  signalGroup(record.pid, 'SIGKILL');
  await gone(record, 5_000, exited);
}

export async function logTail(file: string, lines = 30): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

async function gone(record: ProcessIdentity, timeoutMs: number, exited?: Promise<unknown>): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isRunning(record)) return true;
    const wait = new Promise((resolve) => setTimeout(resolve, 50));
    await (exited ? Promise.race([exited, wait]) : wait);
  }
  return !isRunning(record);
}
