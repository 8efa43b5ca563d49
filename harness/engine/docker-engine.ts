import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { KmslabError } from '../common/errors.js';
import { identify, isRunning, type ProcessIdentity } from '../process/process-identity.js';
import { aptInstall, hasCommand } from './apt.js';
import { thawTree } from './cgroup-thaw.js';
import {
  ENGINE_HELPERS,
  engineDir,
  installEngineProgram,
  prepareEngineDir,
  systemCommand,
  systemPath,
} from './engine-programs.js';
import { rootOwnedPath } from './root-owned.js';
import { missingCapabilities, NO_PULL_PLUGIN, RUNTIME_NAME, runtimeWrapperFlags } from './runtime-wrapper.js';

/** EngineRecord is what `engine start` leaves for `engine stop`: the dockerd it started, and how. */
export interface EngineRecord {
  dockerd: ProcessIdentity;
  /** The authorization plugin that refuses every request that could reach a registry or another host. */
  plugin: ProcessIdentity & { socket: string; log: string; binary: string };
  /** dockerd's HTTP(S) proxy: the plugin's trap, which refuses and logs whatever tries to leave through it. */
  trap: string;
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
  /** This call started the engine (so whoever called it may stop it). */
  startedNow?: boolean;
  record?: EngineRecord;
}

// Where dockerd discovers plugins by socket name.
const PLUGIN_DIR = '/run/docker/plugins';

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
  // The engine listens where the docker CLI looks: $DOCKER_HOST if it names a unix socket, else the default one.
  const host = process.env.DOCKER_HOST;
  if (host && !host.startsWith('unix://')) {
    throw new KmslabError('usage', `DOCKER_HOST=${host}: kmslab starts a dockerd only on a unix socket (unix:///path)`);
  }
  // A dockerd of ours that is alive but silent (its plugin gone, or overloaded) is not replaced by a second one.
  const recorded = await readRecord();
  if (recorded && isRunning(recorded.dockerd)) {
    const why = isRunning(recorded.plugin) ? '' : ' (its no-pull plugin has exited, so it refuses every request)';
    throw new KmslabError(
      'failed',
      `the dockerd kmslab started (pid ${recorded.dockerd.pid}) runs but does not answer docker info${why}; see ${recorded.log}, then kmslab engine stop and kmslab engine start`,
    );
  }
  if (recorded && isRunning(recorded.plugin)) await terminate(recorded.plugin, 5_000);
  let installed = false;
  if (!(await hasCommand('dockerd'))) {
    await aptInstall(['docker.io'], 'no container engine answers and dockerd is not installed', say);
    installed = true;
    // On a host with systemd the package starts its own service: that engine is then the machine's, not ours.
    const info = await dockerInfo();
    if (info) {
      say(`docker.io's package started dockerd as a service (docker ${info.serverVersion}); kmslab uses it as it is`);
      return { answering: true, serverVersion: info.serverVersion, startedByKmslab: false, runtimes: info.runtimes };
    }
  }
  if (!(await hasCommand('docker'))) {
    throw new KmslabError('failed', 'dockerd is installed but the docker CLI is not on PATH; install docker.io');
  }
  if (process.getuid?.() !== 0) {
    throw new KmslabError(
      'failed',
      'starting a dockerd needs root: run kmslab engine start as root, or start an engine yourself (kmslab then uses it as it is)',
    );
  }
  // Everything the root-run dockerd executes, and its config, must be where only root can write.
  const dir = await prepareEngineDir();
  const path = await systemPath(say);
  const dockerd = await systemCommand('dockerd', path);
  if (!dockerd)
    throw new KmslabError('failed', `dockerd is not in the system directories (${path}); install docker.io`);
  const runc = await systemCommand('runc', path);
  if (!runc) throw new KmslabError('failed', 'runc is not installed; install Debian runc (docker.io depends on it)');
  for (const helper of ENGINE_HELPERS) await systemCommand(helper, path);
  say('building kmslab-runc (OCI runtime wrapper for kind nodes) and kmslab-no-pull (authorization plugin)');
  const wrapper = await installEngineProgram('oci-runtime', 'kmslab-runc', runtimeWrapperFlags(runc));
  const noPull = await installEngineProgram('no-pull', NO_PULL_PLUGIN);
  const missing = await missingCapabilities();
  if (missing)
    say(`this machine's capability bounding set lacks ${missing} capability(ies): kind nodes need the wrapper`);

  const config = join(dir, 'daemon.json');
  const log = join(dir, 'dockerd.log');

  // The plugin first: dockerd asks it before serving any request, and refuses requests while it is missing.
  await mkdir(PLUGIN_DIR, { recursive: true, mode: 0o700 });
  await rootOwnedPath(PLUGIN_DIR, 'directory', `dockerd's plugin directory`);
  const pluginSocket = join(PLUGIN_DIR, `${NO_PULL_PLUGIN}.sock`);
  const pluginLog = join(dir, `${NO_PULL_PLUGIN}.log`);
  const trapFile = join(dir, 'trap-address');
  // A socket or trap file left by an engine that died (or a machine that rebooted) must not pass for the new plugin's.
  await rm(trapFile, { force: true });
  await rm(pluginSocket, { force: true });
  const plugin = spawnDetached(noPull, [pluginSocket, trapFile], pluginLog, { PATH: path });
  const socketDeadline = Date.now() + 10_000;
  while (!existsSync(pluginSocket) || !existsSync(trapFile)) {
    if (!isRunning(plugin) || Date.now() > socketDeadline) {
      await terminate(plugin, 5_000);
      throw new KmslabError(
        'failed',
        `${NO_PULL_PLUGIN} did not start; the end of ${pluginLog}:\n${await tail(pluginLog)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  // Whatever tries to leave through dockerd's proxy meets the plugin's trap on loopback.
  const trap = `http://${(await readFile(trapFile, 'utf8')).trim()}`;
  // debug: dockerd logs every API call, which is how a run proves it made no pull attempt (see pull-audit.ts).
  await writeFile(
    config,
    JSON.stringify(
      { debug: true, 'authorization-plugins': [NO_PULL_PLUGIN], runtimes: { [RUNTIME_NAME]: { path: wrapper } } },
      null,
      2,
    ) + '\n',
    { mode: 0o600 },
  );
  say(`starting ${dockerd}${host ? ` on ${host}` : ''} (log ${log})`);
  const args = ['--config-file', config, '--pidfile', join(dir, 'dockerd.pid'), ...(host ? ['--host', host] : [])];
  const daemon = spawnDetached(dockerd, args, log, {
    PATH: path,
    HOME: '/root',
    // git (a build's remote context) would reach git:// and ssh hosts around the proxy: it may use no transport.
    GIT_ALLOW_PROTOCOL: 'none',
    HTTP_PROXY: trap,
    HTTPS_PROXY: trap,
    http_proxy: trap,
    https_proxy: trap,
    NO_PROXY: '',
    no_proxy: '',
  });
  const record: EngineRecord = {
    dockerd: daemon,
    plugin: { ...plugin, socket: pluginSocket, log: pluginLog, binary: noPull },
    trap,
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
        startedNow: true,
      };
    if (!isRunning(record.dockerd)) {
      await terminate(record.plugin, 5_000);
      throw new KmslabError('failed', `dockerd exited while starting; the end of ${log}:\n${await tail(log)}`);
    }
    if (Date.now() > deadline) {
      await terminate(record.dockerd, 30_000);
      await terminate(record.plugin, 5_000);
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
  const running = [record?.dockerd, record?.plugin].filter((p) => p !== undefined && isRunning(p));
  if (!record || running.length === 0) {
    await rm(join(engineDir(), 'engine.json'), { force: true });
    say('no engine started by kmslab is running; nothing to stop');
    return false;
  }
  if (isRunning(record.dockerd)) {
    // A container whose cgroup was left frozen cannot be stopped, and would outlive dockerd (see node-teardown.ts).
    await thawTree('/sys/fs/cgroup/freezer/docker');
    say(`stopping dockerd (pid ${record.dockerd.pid}), which stops its containers`);
    const containerd = await managedContainerd();
    await terminate(record.dockerd, 60_000);
    if (isRunning(record.dockerd)) {
      throw new KmslabError(
        'failed',
        `dockerd (pid ${record.dockerd.pid}) did not exit even after SIGKILL (a process stuck in the kernel); the record is kept, see ${record.log}`,
      );
    }
    // A dockerd that had to be killed leaves its containerd (and the containers' shims) behind.
    if (containerd) await terminate(containerd, 10_000);
  }
  // After dockerd: while it runs, it needs the plugin to serve any request.
  if (record.plugin) await terminate(record.plugin, 10_000);
  await rm(join(engineDir(), 'engine.json'), { force: true });
  return true;
}

/** terminate sends SIGTERM, waits, then SIGKILL: only to the recorded process (pid and start time). */
async function terminate(p: ProcessIdentity, graceMs: number): Promise<void> {
  if (!isRunning(p)) return;
  process.kill(p.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isRunning(p) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  if (isRunning(p)) process.kill(p.pid, 'SIGKILL');
}

/** spawnDetached starts a daemon in its own session, output appended to a log, outliving this process. */
function spawnDetached(command: string, args: string[], log: string, env: NodeJS.ProcessEnv): ProcessIdentity {
  const out = openSync(log, 'a', 0o600);
  try {
    const child = spawn(command, args, { detached: true, stdio: ['ignore', out, out], env });
    child.unref();
    return identify(child.pid!);
  } finally {
    closeSync(out);
  }
}

/** managedContainerd is the containerd dockerd started for itself (default exec root), if it runs. */
async function managedContainerd(): Promise<ProcessIdentity | undefined> {
  const pid = Number(await readFile('/var/run/docker/containerd/containerd.pid', 'utf8').catch(() => ''));
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const command = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '');
  return command.trim() === 'containerd' ? identify(pid) : undefined;
}

/**
 * readRecord reads what `engine start` recorded. The record names processes `engine stop` signals as root, so it
 * is believed only where no one but root could have written it.
 */
async function readRecord(): Promise<EngineRecord | undefined> {
  const file = join(engineDir(), 'engine.json');
  if (!existsSync(file)) return undefined;
  await rootOwnedPath(file, 'file', `kmslab's engine record (${file})`);
  try {
    return JSON.parse(await readFile(file, 'utf8')) as EngineRecord;
  } catch {
    return undefined;
  }
}

async function tail(file: string): Promise<string> {
  return (await readFile(file, 'utf8').catch(() => '')).trimEnd().split('\n').slice(-20).join('\n');
}
