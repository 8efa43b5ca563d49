import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KmslabError } from '../common/errors.js';
import { ApiHttp } from '../kube/api-http.js';
import { ManagedProcess, stopRecorded, type ProcessRecord } from '../process/managed-process.js';
import { isRunning } from '../process/process-identity.js';
import { readToken } from './lab-status.js';
import { probes } from './probes.js';
import { CloudControlClient } from '../../cloud/control-client.js';
import { pluginAnswers } from '../kms/index.js';
import { readLab, writeLab, type LabRecord } from './registry.js';

/**
 * What `kmslab restart` takes: one component, every apiserver, one apiserver by index, or the whole lab. `kms` is the
 * KMS side (the fake KMS, or an external plugin and its proxy); `plugin` and `proxy` name one of the latter.
 */
export type RestartTarget = 'cloud' | 'kms' | 'plugin' | 'proxy' | 'etcd' | 'apiserver' | `apiserver-${number}` | 'all';

export interface RestartResult {
  name: string;
  restarted: Array<{ name: string; pid: number; was: 'running' | 'dead' }>;
}

// Servers start before their clients and stop after them.
const START_ORDER = (name: string) =>
  name.startsWith('cloud-') ? -1 : ({ 'kms-plugin': 0, 'fake-kms': 1, 'kms-proxy': 1, etcd: 2 }[name] ?? 3);

/**
 * restartLab stops and starts components of a local lab from what lab.json recorded (command line, log file), on
 * the same state: the plugin on its state dir, etcd on its data dir, apiservers on their certs and config. It works
 * whether or not the process that started the lab still runs, and updates lab.json, so `down` stops what it started.
 * An apiserver counts as started once /livez answers (its /readyz also needs a healthy KMS).
 */
export async function restartLab(
  name: string,
  target: string,
  options: { timeoutMs?: number; onProgress?: (message: string) => void } = {},
): Promise<RestartResult> {
  const record = await readLab(name);
  if (!record) throw new KmslabError('not-found', `no lab named "${name}"; kmslab list shows the labs on this machine`);
  if (record.backend !== 'local') {
    throw new KmslabError('usage', `kmslab restart works on local labs; lab "${name}" runs on ${record.backend}`);
  }
  const chosen = select(record, target);
  const missing = chosen.find((p) => !p.command);
  if (missing) {
    throw new KmslabError(
      'failed',
      `lab "${name}" was started by an older kmslab that did not record how to start ${missing.name}; stop it with kmslab down --name ${name} and start it again`,
    );
  }
  const say = options.onProgress ?? (() => undefined);
  const was = new Map(chosen.map((p) => [p.name, isRunning(p) ? ('running' as const) : ('dead' as const)]));
  for (const p of [...chosen].sort((a, b) => START_ORDER(b.name) - START_ORDER(a.name))) {
    if (was.get(p.name) === 'running') {
      say(`stopping ${p.name} (pid ${p.pid})`);
      await stopRecorded(p, p.name.startsWith('kube-apiserver') ? 20_000 : 10_000);
    }
  }
  const restarted: RestartResult['restarted'] = [];
  for (const p of [...chosen].sort((a, b) => START_ORDER(a.name) - START_ORDER(b.name))) {
    say(`starting ${p.name}`);
    const proc = await ManagedProcess.spawn({
      name: p.name,
      command: p.command,
      args: p.args,
      logFile: p.logFile,
      ...(p.cwd ? { cwd: p.cwd } : {}),
    });
    record.processes = record.processes.map((q) => (q.name === p.name ? proc.record : q));
    await writeLab(record);
    await proc.waitUntil(await probeFor(record, p.name), {
      timeoutMs: options.timeoutMs ?? 120_000,
      intervalMs: 250,
      what: `${p.name} to answer again`,
    });
    restarted.push({ name: p.name, pid: proc.pid, was: was.get(p.name)! });
  }
  return { name, restarted };
}

function select(record: LabRecord, target: string): ProcessRecord[] {
  const apiservers = record.processes.filter((p) => p.name.startsWith('kube-apiserver'));
  const byName = (n: string) => record.processes.filter((p) => p.name === n);
  const indexed = /^apiserver-(\d+)$/.exec(target);
  const chosen =
    target === 'all'
      ? record.processes
      : target === 'cloud'
        ? record.processes.filter((p) => p.name.startsWith('cloud-'))
        : target === 'kms'
          ? record.processes.filter((p) => ['fake-kms', 'kms-plugin', 'kms-proxy'].includes(p.name))
          : target === 'plugin' || target === 'proxy'
            ? byName(`kms-${target}`)
            : target === 'etcd'
              ? byName('etcd')
              : target === 'apiserver'
                ? apiservers
                : indexed
                  ? apiservers.length === 1 && indexed[1] === '0'
                    ? apiservers
                    : byName(`kube-apiserver-${indexed[1]}`)
                  : undefined;
  if (!chosen) {
    throw new KmslabError(
      'usage',
      `"${target}" is not a component; use cloud, kms, plugin, proxy, etcd, apiserver, apiserver-<i> or all`,
    );
  }
  if (chosen.length === 0) {
    throw new KmslabError(
      'usage',
      `lab "${record.name}" has no ${target}; it has ${record.processes.map((p) => p.name).join(', ')}`,
    );
  }
  return chosen;
}

async function probeFor(record: LabRecord, processName: string): Promise<() => Promise<true | undefined>> {
  if (processName === 'fake-kms' || processName === 'kms-proxy') return probes.kms(record.kms.control);
  if (processName === 'kms-plugin') return pluginAnswers(record.kms.plugin!.socket);
  if (processName.startsWith('cloud-') && record.kms.cloud) {
    const client = new CloudControlClient(record.kms.cloud.control, 5_000);
    return async () => ((await client.status()) ? true : undefined);
  }
  if (processName === 'etcd') return probes.etcd(record.etcd);
  const apiserver = record.apiservers.find((a) => a.name === processName);
  if (!apiserver) throw new KmslabError('failed', `lab.json has no URL for ${processName}`);
  const token = await readToken(record);
  let http: ApiHttp | undefined;
  // The serving cert exists once the apiserver has started at least once; it is read when the probe runs.
  const client = async () =>
    (http ??= new ApiHttp({
      server: apiserver.url,
      caPem: await readFile(join(record.dir, processName, 'certs', 'apiserver.crt'), 'utf8'),
      token,
    }));
  const live = probes.apiserver(client, '/livez');
  return async () => {
    try {
      return await live();
    } finally {
      http?.close();
      http = undefined;
    }
  };
}
