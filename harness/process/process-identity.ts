import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { KmslabError } from '../common/errors.js';

/**
 * ProcessIdentity pins a pid to one process: the pid plus its start time. A recorded identity whose start time no
 * longer matches means the pid was reused, and kmslab must not signal it. The start time comes from /proc on Linux
 * (clock ticks since boot) and from `ps -o lstart=` elsewhere (prefixed `ps:`).
 */
export interface ProcessIdentity {
  pid: number;
  startTime: string | null;
}

export type IdentitySource = 'proc' | 'ps';

const SOURCE: IdentitySource = existsSync('/proc/self/stat') ? 'proc' : 'ps';

/** identify records who a live process is; it fails clearly where neither /proc nor ps can tell. */
export function identify(pid: number, source: IdentitySource = SOURCE): ProcessIdentity {
  const startTime = startTimeOf(pid, source);
  if (startTime === null && isAlive(pid)) {
    throw new KmslabError(
      'failed',
      `cannot tell processes apart on this platform (${process.platform}: no /proc, and \`ps -o lstart= -p ${pid}\` gave nothing); kmslab needs Linux or macOS to start and stop processes safely`,
    );
  }
  return { pid, startTime };
}

/** isRunning: the process still exists and is the one recorded (zombies count as gone). */
export function isRunning(id: ProcessIdentity): boolean {
  if (!isAlive(id.pid)) return false;
  const source: IdentitySource = id.startTime?.startsWith('ps:') ? 'ps' : 'proc';
  if (stateOf(id.pid, source)?.startsWith('Z')) return false;
  // An identity without a start time cannot be told from a reused pid: never treat it as ours.
  return id.startTime !== null && startTimeOf(id.pid, source) === id.startTime;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function startTimeOf(pid: number, source: IdentitySource): string | null {
  if (source === 'proc') return statFields(pid)?.[19] ?? null;
  const lstart = psFields(pid)?.lstart;
  return lstart ? `ps:${lstart}` : null;
}

// `ps` with both columns in one call: the state (Z for a zombie) and the start time, to the second.
function psFields(pid: number): { state: string; lstart: string } | null {
  try {
    const out = execFileSync('ps', ['-o', 'stat=', '-o', 'lstart=', '-p', String(pid)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      env: { ...process.env, LC_ALL: 'C' },
    }).trim();
    const m = /^(\S+)\s+(.+)$/.exec(out);
    return m ? { state: m[1]!, lstart: m[2]! } : null;
  } catch {
    return null;
  }
}

function statFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may itself hold spaces.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

function stateOf(pid: number, source: IdentitySource): string | null {
  return source === 'proc' ? (statFields(pid)?.[0] ?? null) : (psFields(pid)?.state ?? null);
}
