import { rm } from 'node:fs/promises';
import { composeDown } from '../backends/compose/compose-project.js';
import { KindCli } from '../backends/kind/kind-cli.js';
import { KmslabError } from '../common/errors.js';
import { stopRecorded } from '../process/managed-process.js';
import { isRunning } from '../process/process-identity.js';
import { readLab, writeLab, type LabRecord } from './registry.js';

export interface StopResult {
  name: string;
  stopped: string[];
  removed: boolean;
}

// Stop order: clients before servers, so nothing logs errors about a vanished dependency.
const ORDER = (name: string) => (name.startsWith('kube-apiserver') ? 0 : name === 'etcd' ? 1 : 2);

/**
 * stopLab stops every process of a lab from its record alone, so it works even when the process that started
 * the lab was killed. It removes the lab dir unless `keepFiles` is set.
 */
export async function stopLab(name: string, options: { keepFiles?: boolean } = {}): Promise<StopResult> {
  const record = await readLab(name);
  if (!record) throw new KmslabError('not-found', `no lab named "${name}"; kmslab list shows the labs on this machine`);
  return stopRecord(record, options);
}

export async function stopRecord(record: LabRecord, options: { keepFiles?: boolean } = {}): Promise<StopResult> {
  const containers: string[] = [];
  // Containers first, but host processes (the fake KMS of a kind lab) are stopped even when the engine fails.
  let containerError: Error | undefined;
  try {
    if (record.kind) {
      await new KindCli(record.kind.binary, record.kind.docker).deleteCluster(record.kind.cluster);
      containers.push(`kind cluster ${record.kind.cluster}`);
    }
    if (record.compose) {
      await composeDown(record.compose.project, record.compose.dir);
      containers.push(`compose project ${record.compose.project}`);
    }
  } catch (error) {
    containerError = error as Error;
  }
  const live = record.processes.filter(isRunning).sort((a, b) => ORDER(a.name) - ORDER(b.name));
  for (const p of live) await stopRecorded(p, p.name.startsWith('kube-apiserver') ? 20_000 : 10_000);
  const still = record.processes.filter(isRunning);
  if (still.length) {
    throw new KmslabError('failed', `could not stop ${still.map((p) => `${p.name} (pid ${p.pid})`).join(', ')}`);
  }
  if (containerError) {
    record.processes = [];
    await writeLab(record);
    throw new KmslabError(
      'failed',
      `the lab's containers could not be removed (${containerError.message.split('\n')[0]}); its host processes are stopped. Make sure the engine answers (kmslab engine start) and run kmslab down --name ${record.name} again`,
    );
  }
  if (options.keepFiles) {
    record.status = 'stopped';
    await writeLab(record);
    await rm(record.kms.socket, { force: true });
    await rm(record.kms.control, { force: true });
  } else {
    await rm(record.dir, { recursive: true, force: true });
  }
  return { name: record.name, stopped: [...containers, ...live.map((p) => p.name)], removed: !options.keepFiles };
}
