import { spawn } from 'node:child_process';
import { expect, test } from 'vitest';
import { identify, isRunning, type IdentitySource } from './process-identity.js';

// Both sources are exercised here on Linux: ps is what macOS uses, where there is no /proc.
test.each<IdentitySource>(['proc', 'ps'])(
  '%s: a process is known by pid and start time; a reused pid is not it',
  async (source) => {
    const me = identify(process.pid, source);
    expect(me.startTime).not.toBeNull();
    if (source === 'ps') expect(me.startTime).toMatch(/^ps:/);
    expect(isRunning(me)).toBe(true);
    expect(identify(process.pid, source)).toEqual(me);

    // The same pid with another start time is another process: never ours to signal.
    expect(isRunning({ pid: process.pid, startTime: source === 'ps' ? 'ps:Thu Jan  1 00:00:00 1970' : '1' })).toBe(
      false,
    );
    expect(isRunning({ pid: process.pid, startTime: null })).toBe(false);

    const child = spawn('sleep', ['30']);
    await new Promise((r) => child.once('spawn', r));
    const id = identify(child.pid!, source);
    expect(isRunning(id)).toBe(true);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(isRunning(id)).toBe(false);
  },
);
