import { execa } from 'execa';
import { KmslabError } from '../common/errors.js';

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
  /** Aborting kills the command's whole process group (kind starts docker, docker may start more). */
  signal?: AbortSignal;
  timeoutMs?: number;
}

/**
 * runCommand runs a tool (kind, docker) in its own process group and returns its stdout. A failure becomes a
 * KmslabError with the command line as one could paste it, the exit code and the last lines of its output.
 */
export async function runCommand(command: string, args: string[], options: RunOptions = {}): Promise<string> {
  const child = execa(command, args, {
    env: options.env,
    ...(options.input === undefined ? {} : { input: options.input }),
    detached: true,
    cleanup: true,
    all: true,
    reject: false,
    buffer: true,
  });
  const killGroup = (signal: NodeJS.Signals) => {
    try {
      if (child.pid) process.kill(-child.pid, signal);
    } catch {
      // the group is gone already
    }
  };
  let hardKill: NodeJS.Timeout | undefined;
  let timedOut = false;
  const abort = () => {
    killGroup('SIGTERM');
    hardKill = setTimeout(() => killGroup('SIGKILL'), 5_000);
  };
  if (options.signal?.aborted) abort();
  options.signal?.addEventListener('abort', abort, { once: true });
  // Our own timer (execa's would kill only the direct child, not the group it started).
  const timer = options.timeoutMs
    ? setTimeout(() => {
        timedOut = true;
        abort();
      }, options.timeoutMs)
    : undefined;
  try {
    const result = await child;
    if (result.failed || result.exitCode !== 0) {
      const why = options.signal?.aborted
        ? 'aborted'
        : timedOut
          ? `timed out after ${Math.round(options.timeoutMs! / 1000)} s`
          : `exit ${result.exitCode ?? result.signal}`;
      const tail = String(result.all ?? '')
        .trimEnd()
        .split('\n')
        .slice(-20)
        .join('\n');
      throw new KmslabError('failed', `${pretty(command, args)} failed (${why}):\n${tail}`);
    }
    return String(result.stdout ?? '');
  } finally {
    options.signal?.removeEventListener('abort', abort);
    clearTimeout(timer);
    clearTimeout(hardKill);
  }
}

// A shell-pasteable rendering of a command line.
function pretty(command: string, args: string[]): string {
  return [command, ...args].map((a) => (/^[\w./:=@-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`)).join(' ');
}
