import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { KmslabError } from '../common/errors.js';
import { cacheRoot } from '../common/paths.js';
import { identify, isRunning, type ProcessIdentity } from '../process/process-identity.js';
import { aptInstall, hasCommand } from './apt.js';
import { buildRuntimeWrapper, missingCapabilities, RUNTIME_NAME } from './runtime-wrapper.js';

/** Where kmslab keeps the engine it started: per machine, like the engine itself (not per KMSLAB_HOME). */
export const engineDir = () => join(cacheRoot(), 'engine');

/** EngineRecord is what `engine start` leaves for `engine stop`: the dockerd it started, and how. */
export interface EngineRecord {
  dockerd: ProcessIdentity;
  startedAt: string;
  log: string;
  config: string;
  runtime: { name: string; path: string };
  installed: boolean;
}

export interface EngineStatus {
  /** `docker info` answers. */
  answering: boolean;
  serverVersion?: string;
  /** The engine is a dockerd kmslab started (and `engine stop` will stop). */
  startedByKmslab: boolean;
  /** kmslab's OCI runtime wrapper is registered: kind nodes run through it. */
  runtimes: string[];
  record?: EngineRecord;
}

// A registry can only be reached through this proxy, and nothing listens on it: a pull fails on loopback.
const NO_REGISTRY_PROXY = 'http://127.0.0.1:9';

/** dockerInfo asks the engine the docker CLI points at; undefined when none answers. */
export async function dockerInfo(
  docker = 'docker',
): Promise<{ serverVersion: string; runtimes: string[] } | undefined> {
  const r = await execa(docker, ['info', '--format', '{{json .ServerVersion}} {{json .Runtimes}}'], {
    reject: false,
    timeout: 15_000,
  }).catch(() => undefined);
  if (!r || r.exitCode !== 0) return undefined;
  const [version, runtimes] = String(r.stdout).trim().split(/ (.*)/s);
  try {
    return {
      serverVersion: JSON.parse(version!) as string,
      runtimes: Object.keys((JSON.parse(runtimes ?? '{}') as Record<string, unknown>) ?? {}),
    };
  } catch {
    return undefined;
  }
}

export async function engineStatus(): Promise<EngineStatus> {
  const info = await dockerInfo();
  const record = await readRecord();
  const ours = record !== undefined && isRunning(record.dockerd);
  return {
    answering: info !== undefined,
    ...(info ? { serverVersion: info.serverVersion } : {}),
    startedByKmslab: ours,
    runtimes: info?.runtimes ?? [],
    ...(ours ? { record } : {}),
  };
}

/**
 * startEngine makes `docker info` answer. An engine that already answers is left as it is. Otherwise it installs
 * Debian's docker.io if dockerd is missing (saying so first), and starts a dockerd of its own: its config, pidfile
 * and log under the cache, kmslab's OCI runtime wrapper registered as an extra runtime (the default stays runc, so
 * other containers run as before), and registry traffic sent to a closed loopback port, so that an accidental pull
 * fails on this machine instead of leaving it.
 */
export async function startEngine(say: (m: string) => void = () => undefined): Promise<EngineStatus> {
  const before = await engineStatus();
  if (before.answering) {
    say(
      before.startedByKmslab
        ? `the engine kmslab started (dockerd pid ${before.record!.dockerd.pid}) answers`
        : `an engine already answers (docker ${before.serverVersion}); kmslab leaves it as it is`,
    );
    return before;
  }
  let installed = false;
  if (!(await hasCommand('dockerd'))) {
    await aptInstall(['docker.io'], 'no container engine answers and dockerd is not installed', say);
    installed = true;
  }
  if (!(await hasCommand('docker'))) {
    throw new KmslabError('failed', 'dockerd is installed but the docker CLI is not on PATH; install docker.io');
  }
  const runc = await resolveCommand('runc');
  if (!runc) throw new KmslabError('failed', 'runc is not on PATH; install Debian runc (docker.io depends on it)');
  say('building kmslab-runc, the OCI runtime wrapper for kind nodes');
  const wrapper = await buildRuntimeWrapper(runc);
  const missing = await missingCapabilities();
  if (missing)
    say(`this machine's capability bounding set lacks ${missing} capability(ies): kind nodes need the wrapper`);

  const dir = engineDir();
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const config = join(dir, 'daemon.json');
  const log = join(dir, 'dockerd.log');
  await writeFile(config, JSON.stringify({ runtimes: { [RUNTIME_NAME]: { path: wrapper } } }, null, 2) + '\n');
  const dockerd = (await resolveCommand('dockerd'))!;
  // The engine listens where the docker CLI looks: $DOCKER_HOST if it names a unix socket, else the default one.
  const host = process.env.DOCKER_HOST;
  if (host && !host.startsWith('unix://')) {
    throw new KmslabError('usage', `DOCKER_HOST=${host}: kmslab starts a dockerd only on a unix socket (unix:///path)`);
  }
  say(`starting ${dockerd}${host ? ` on ${host}` : ''} (log ${log})`);
  const out = openSync(log, 'a', 0o600);
  let pid: number;
  try {
    const args = ['--config-file', config, '--pidfile', join(dir, 'dockerd.pid'), ...(host ? ['--host', host] : [])];
    const child = spawn(dockerd, args, {
      detached: true,
      stdio: ['ignore', out, out],
      env: {
        ...process.env,
        HTTP_PROXY: NO_REGISTRY_PROXY,
        HTTPS_PROXY: NO_REGISTRY_PROXY,
        http_proxy: NO_REGISTRY_PROXY,
        https_proxy: NO_REGISTRY_PROXY,
        NO_PROXY: '',
        no_proxy: '',
      },
    });
    child.unref();
    pid = child.pid!;
  } finally {
    closeSync(out);
  }
  const record: EngineRecord = {
    dockerd: identify(pid),
    startedAt: new Date().toISOString(),
    log,
    config,
    runtime: { name: RUNTIME_NAME, path: wrapper },
    installed,
  };
  await writeFile(join(dir, 'engine.json'), JSON.stringify(record, null, 2) + '\n', { mode: 0o600 });
  const deadline = Date.now() + 90_000;
  for (;;) {
    const info = await dockerInfo();
    if (info)
      return {
        answering: true,
        serverVersion: info.serverVersion,
        startedByKmslab: true,
        runtimes: info.runtimes,
        record,
      };
    if (!isRunning(record.dockerd)) {
      throw new KmslabError('failed', `dockerd exited while starting; the end of ${log}:\n${await tail(log)}`);
    }
    if (Date.now() > deadline) {
      throw new KmslabError(
        'failed',
        `dockerd did not answer docker info within 90 s; the end of ${log}:\n${await tail(log)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * stopEngine stops the dockerd `startEngine` started (SIGTERM: dockerd stops its containers and its containerd),
 * and nothing else. Returns false when there was nothing of kmslab's to stop.
 */
export async function stopEngine(say: (m: string) => void = () => undefined): Promise<boolean> {
  const record = await readRecord();
  if (!record || !isRunning(record.dockerd)) {
    await rm(join(engineDir(), 'engine.json'), { force: true });
    say('no engine started by kmslab is running; nothing to stop');
    return false;
  }
  say(`stopping dockerd (pid ${record.dockerd.pid}), which stops its containers`);
  process.kill(record.dockerd.pid, 'SIGTERM');
  const deadline = Date.now() + 60_000;
  while (isRunning(record.dockerd) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
  if (isRunning(record.dockerd)) {
    say('dockerd did not stop within 60 s; killing it');
    process.kill(record.dockerd.pid, 'SIGKILL');
  }
  await rm(join(engineDir(), 'engine.json'), { force: true });
  return true;
}

async function readRecord(): Promise<EngineRecord | undefined> {
  try {
    return JSON.parse(await readFile(join(engineDir(), 'engine.json'), 'utf8')) as EngineRecord;
  } catch {
    return undefined;
  }
}

async function resolveCommand(command: string): Promise<string | undefined> {
  const r = await execa('sh', ['-c', 'command -v "$1"', 'sh', command], { reject: false });
  return r.exitCode === 0 ? String(r.stdout).trim() : undefined;
}

async function tail(file: string): Promise<string> {
  return (await readFile(file, 'utf8').catch(() => '')).trimEnd().split('\n').slice(-20).join('\n');
}
