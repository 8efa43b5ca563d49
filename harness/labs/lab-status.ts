import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KmsControlClient, type FakeKmsStatus } from '../../fake-kms/index.js';
import { kindApiEndpoint } from '../backends/kind/kind-access.js';
import { ApiHttp } from '../kube/api-http.js';
import { failingChecks } from '../kube/health-checks.js';
import { isRunning } from '../process/process-identity.js';
import type { LabRecord } from './registry.js';

export interface LabHealth {
  name: string;
  /** running: every process alive and every apiserver ready; degraded: something is down; stopped: nothing runs. */
  state: 'running' | 'degraded' | 'stopped' | 'failed';
  recorded: LabRecord['status'];
  dir: string;
  /** Each process; a dead one says what brings it back. */
  processes: Array<{ name: string; pid: number; alive: boolean; restart?: string }>;
  /** readyz: `ok`, the HTTP status, or why it was unreachable; failing: the checks /readyz?verbose marks [-]. */
  apiservers: Array<{ name: string; url: string; readyz: string; failing?: string[] }>;
  kms: Pick<FakeKmsStatus, 'listening' | 'keyId' | 'faults'> | { error: string };
}

/** labHealth checks a recorded lab for real: processes, each apiserver's /readyz, the plugin's control socket. */
export async function labHealth(record: LabRecord): Promise<LabHealth> {
  const processes = record.processes.map((p) => {
    const alive = isRunning(p);
    return {
      name: p.name,
      pid: p.pid,
      alive,
      ...(alive || record.backend !== 'local'
        ? {}
        : { restart: `kmslab restart ${componentOf(p.name)} --name ${record.name}` }),
    };
  });
  const token = await readToken(record);
  const apiservers = await Promise.all(
    record.apiservers.map(async (a) => {
      // Each apiserver serves its own self-generated certificate; a kind cluster's kubeconfig holds its CA and
      // a client certificate instead of a token.
      const caPem = await readFile(join(record.dir, a.name, 'certs', 'apiserver.crt'), 'utf8').catch(() => '');
      const endpoint = record.kind
        ? await kindApiEndpoint(record).catch(() => ({ server: a.url, caPem: '' }))
        : { server: a.url, caPem, token };
      const http = new ApiHttp(endpoint);
      try {
        const res = await http.request('GET', '/readyz?verbose', undefined, 5_000);
        if (res.status === 200) return { ...a, readyz: 'ok' };
        return { ...a, readyz: `${res.status}`, failing: failingChecks(res.body) };
      } catch (error) {
        return { ...a, readyz: `unreachable (${(error as Error).message})` };
      } finally {
        http.close();
      }
    }),
  );
  const kms = await new KmsControlClient(record.kms.control)
    .status()
    .then((s) => ({ listening: s.listening, keyId: s.keyId, faults: s.faults }))
    .catch((error: Error) => ({ error: error.message }));
  const alive = processes.filter((p) => p.alive).length;
  const state =
    record.status === 'failed' && alive === 0
      ? 'failed'
      : alive === 0 && processes.length > 0 // a compose lab has no host process: its apiserver's answer decides
        ? 'stopped'
        : alive === processes.length && apiservers.every((a) => a.readyz === 'ok')
          ? 'running'
          : 'degraded';
  return { name: record.name, state, recorded: record.status, dir: record.dir, processes, apiservers, kms };
}

/** readToken reads the lab's admin bearer token from its token file (kept 0600 in the lab dir). */
export async function readToken(record: LabRecord): Promise<string> {
  const line = await readFile(join(record.dir, 'config', 'tokens.csv'), 'utf8').catch(() => '');
  return line.split(',')[0] ?? '';
}

/** componentOf names a lab process as `kmslab restart` takes it: fake-kms → kms, kube-apiserver-1 → apiserver-1. */
export function componentOf(processName: string): string {
  if (processName === 'fake-kms') return 'kms';
  if (processName.startsWith('kms-')) return processName.slice('kms-'.length);
  if (processName === 'kube-apiserver') return 'apiserver';
  return processName.replace(/^kube-/, '');
}
