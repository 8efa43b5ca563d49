import { readFileSync } from 'node:fs';

/**
 * ProcessIdentity pins a pid to one process: the pid plus its start time (Linux /proc, in clock ticks since
 * boot). A recorded identity that no longer matches means the pid was reused, and kmslab must not signal it.
 */
export interface ProcessIdentity {
  pid: number;
  startTime: string | null;
}

export function identify(pid: number): ProcessIdentity {
  return { pid, startTime: startTimeOf(pid) };
}

/** isRunning: the process still exists and is the one recorded (zombies count as gone). */
export function isRunning(id: ProcessIdentity): boolean {
  try {
    process.kill(id.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (stateOf(id.pid) === 'Z') return false;
  return id.startTime === null || startTimeOf(id.pid) === id.startTime;
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

function startTimeOf(pid: number): string | null {
  return statFields(pid)?.[19] ?? null;
}

function stateOf(pid: number): string | null {
  return statFields(pid)?.[0] ?? null;
}
