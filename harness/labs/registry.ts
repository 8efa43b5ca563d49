import { mkdir, readdir, readFile, rename, rm, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { KmslabError } from '../common/errors.js';
import { tryLock } from '../common/file-lock.js';
import { kmslabHome } from '../common/paths.js';
import { isRunning, type ProcessIdentity } from '../process/process-identity.js';
import type { ProcessRecord } from '../process/managed-process.js';
import type { CloudRecord, ExternalPlugin } from '../kms/index.js';

/** LabRecord is a lab as kept in `$KMSLAB_HOME/labs/<name>/lab.json`: enough to find, use and stop it from any process. */
export interface LabRecord {
  format: 1;
  name: string;
  backend: 'local' | 'kind' | 'compose';
  /** kind labs: the cluster, and the kind binary that made it (down deletes it). */
  kind?: { cluster: string; binary: string; docker: string };
  /** compose labs: the compose project and the directory docker-compose.yml mounts (down removes the project). */
  compose?: { project: string; dir: string };
  dir: string;
  createdAt: string;
  status: 'starting' | 'ready' | 'failed' | 'stopped';
  kubeconfig: string;
  apiservers: Array<{ name: string; url: string }>;
  etcd: string;
  kms: {
    socket: string;
    control: string;
    provider: string;
    stateDir: string;
    auditFile: string;
    /** An external plugin behind the proxy (none: the fake KMS). */
    plugin?: ExternalPlugin & { socket: string };
    /** The cloud KMS emulator behind the plugin (`--cloud`), once it has started. */
    cloud?: CloudRecord;
  };
  encryptionConfig: string;
  versions: { kubeApiserver?: string; etcd?: string };
  processes: ProcessRecord[];
  owner: ProcessIdentity;
  error?: string;
}

/** labKmsFiles: where every backend keeps a lab's plugin sockets, fake-KMS state and audit trail in its dir. */
export function labKmsFiles(dir: string): Omit<LabRecord['kms'], 'provider' | 'plugin'> {
  return {
    socket: join(dir, 'kms', 'kms.sock'),
    control: join(dir, 'kms', 'control.sock'),
    stateDir: join(dir, 'kms-state'),
    auditFile: join(dir, 'logs', 'kms-audit.jsonl'),
  };
}

const NAME = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;

export function labsRoot(): string {
  return join(kmslabHome(), 'labs');
}

export function labDir(name: string): string {
  return join(labsRoot(), name);
}

export function checkLabName(name: string): void {
  if (!NAME.test(name)) {
    throw new KmslabError(
      'usage',
      `lab name "${name}" is not valid: use 1-32 lower-case letters, digits and '-', starting and ending with a letter or digit`,
    );
  }
}

export async function readLab(name: string): Promise<LabRecord | undefined> {
  checkLabName(name);
  try {
    return JSON.parse(await readFile(join(labDir(name), 'lab.json'), 'utf8')) as LabRecord;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new KmslabError('failed', `${join(labDir(name), 'lab.json')} is unreadable: ${(error as Error).message}`);
  }
}

// The writes of this process to each lab.json, one after another: apiservers restarted at once each record their
// new pid, and two writes through one temp file would race (the second rename finds it gone).
const writing = new Map<string, Promise<void>>();

/**
 * writeLab replaces lab.json atomically (0600), so a reader never sees half a record. Writes from one process go
 * one at a time, each with the record as it is when its turn comes.
 */
export function writeLab(record: LabRecord): Promise<void> {
  const file = join(record.dir, 'lab.json');
  const write = async () => {
    const temp = `${file}.${process.pid}.tmp`;
    await writeFile(temp, JSON.stringify(record, null, 2) + '\n', { mode: 0o600 });
    await rename(temp, file);
  };
  const next = (writing.get(file) ?? Promise.resolve()).then(write);
  const settled = next.then(
    () => undefined,
    () => undefined,
  );
  writing.set(file, settled);
  void settled.then(() => {
    if (writing.get(file) === settled) writing.delete(file);
  });
  return next;
}

/** labNames lists every lab directory, readable record or not (down --all must not skip a damaged one). */
export async function labNames(): Promise<string[]> {
  return (await readdir(labsRoot()).catch(() => [] as string[])).filter((n) => NAME.test(n));
}

export async function listLabs(): Promise<LabRecord[]> {
  const names = await labNames();
  const records = await Promise.all(names.map((n) => readLab(n).catch(() => undefined)));
  return records.filter((r): r is LabRecord => r !== undefined);
}

/** liveProcesses lists the lab's processes that still run (pid and start time both match). */
export function liveProcesses(record: LabRecord): ProcessRecord[] {
  return record.processes.filter(isRunning);
}

/** A claimed lab name: its fresh private dir, held by this process until `release` (call it when the start ends). */
export interface LabClaim {
  dir: string;
  release: () => Promise<void>;
}

/**
 * claimLab takes a lab name for a start: an inter-process lock on the name (held until release, so a second start
 * of the same name fails at once instead of racing this one), then the check that no lab of that name runs, then
 * the lab's private dir (0700). A dead or failed lab of that name is cleared first, since nothing of it runs any
 * more. A loser never touches the winner's files.
 */
export async function claimLab(name: string): Promise<LabClaim> {
  checkLabName(name);
  await mkdir(labsRoot(), { recursive: true, mode: 0o700 });
  let release: () => Promise<void>;
  try {
    release = await tryLock(labDir(name), `lab name "${name}"`);
  } catch (error) {
    if (error instanceof KmslabError && error.code === 'conflict') {
      throw new KmslabError('conflict', `lab "${name}" is being started by another kmslab process; use another --name`);
    }
    throw error;
  }
  try {
    await assertNameFree(name);
    const dir = labDir(name);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
    await chmod(labsRoot(), 0o700).catch(() => undefined);
    return { dir, release };
  } catch (error) {
    await release();
    throw error;
  }
}

/** claimLabDir claims a name and its dir at once (the name check and the dir are one atomic step). */
export async function claimLabDir(name: string): Promise<string> {
  const claim = await claimLab(name);
  await claim.release();
  return claim.dir;
}

/** assertNameFree fails with a clear message when a lab of that name still runs or is being started. */
export async function assertNameFree(name: string): Promise<void> {
  checkLabName(name);
  const existing = await readLab(name);
  if (
    existing &&
    (existing.status === 'ready' || existing.status === 'starting') &&
    liveProcesses(existing).length > 0
  ) {
    throw new KmslabError(
      'conflict',
      `lab "${name}" is already running (${existing.dir}); use another --name, or stop it with: kmslab down --name ${name}`,
    );
  }
  if (existing && isRunning(existing.owner) && existing.status === 'starting') {
    throw new KmslabError(
      'conflict',
      `lab "${name}" is being started by pid ${existing.owner.pid}; use another --name`,
    );
  }
}
