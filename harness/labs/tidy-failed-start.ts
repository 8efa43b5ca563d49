import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { stopRecorded } from '../process/managed-process.js';
import { checkLabName, labDir, liveProcesses, readLab } from './registry.js';

/**
 * tidyFailedStart leaves a lab whose start failed as nothing but what explains the failure: its logs, and its
 * lab.json (so `kmslab list` shows it failed and `kmslab down` removes it). Keys, certificates, tokens and etcd data
 * go. A start that failed before anything wrote a log (a missing binary) leaves no directory at all. Returns the
 * logs directory it kept, or undefined. It touches only a lab this process was starting.
 */
export async function tidyFailedStart(name: string): Promise<string | undefined> {
  try {
    checkLabName(name);
  } catch {
    return undefined;
  }
  const dir = labDir(name);
  const record = await readLab(name).catch(() => undefined);
  if (record && record.owner.pid !== process.pid) return undefined;
  // The backend stops what it started; a process it missed would keep files open and outlive its lab.
  for (const p of record ? liveProcesses(record) : []) await stopRecorded(p, 5_000).catch(() => undefined);
  const logs = join(dir, 'logs');
  if (!(await holdsData(logs))) {
    await rm(dir, { recursive: true, force: true });
    return undefined;
  }
  for (const entry of await readdir(dir).catch(() => [] as string[])) {
    if (entry !== 'logs' && entry !== 'lab.json') await rm(join(dir, entry), { recursive: true, force: true });
  }
  return logs;
}

// True when the directory holds at least one non-empty file, at any depth.
async function holdsData(dir: string): Promise<boolean> {
  const entries = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
  for (const entry of entries) {
    const info = await stat(join(dir, entry)).catch(() => undefined);
    if (info?.isFile() && info.size > 0) return true;
  }
  return false;
}
