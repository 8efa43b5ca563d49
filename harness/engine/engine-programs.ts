import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { execa } from 'execa';
import { rootOwnedPath } from './root-owned.js';
import { compileOwnProgram, ownProgramSources, type OwnProgram } from './runtime-wrapper.js';

/**
 * engineDir is where the dockerd kmslab starts keeps its config, record, logs and the programs it executes:
 * `$KMSLAB_ENGINE_DIR`, else /var/lib/kmslab/engine. Per machine, like the engine, and writable by root alone:
 * a user who could edit daemon.json or replace a program there would have dockerd run it as root.
 */
export const engineDir = () => process.env.KMSLAB_ENGINE_DIR ?? '/var/lib/kmslab/engine';

// Where the root-run dockerd looks for containerd, runc, the shims, docker-init and docker-proxy: system
// directories only, never the PATH of whoever ran `engine start`.
const SYSTEM_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** The programs dockerd runs by name from its PATH, checked before it starts. */
export const ENGINE_HELPERS = ['containerd', 'containerd-shim-runc-v2', 'runc', 'docker-init', 'docker-proxy'];

/**
 * prepareEngineDir checks that no one but root can write the engine directory or any directory above it, and
 * creates what is missing (root only). Nothing is created where the check fails.
 */
export async function prepareEngineDir(): Promise<string> {
  const dir = resolve(engineDir());
  const what = `kmslab's engine directory (${dir})`;
  let existing = dir;
  while (!existsSync(existing)) existing = dirname(existing);
  await rootOwnedPath(existing, 'directory', what);
  await mkdir(join(dir, 'bin'), { recursive: true, mode: 0o755 });
  await rootOwnedPath(join(dir, 'bin'), 'directory', what);
  return rootOwnedPath(dir, 'directory', what);
}

/**
 * systemPath is the PATH the root-run dockerd gets: the system directories that exist and that only root can
 * write (with every directory above them). Those that fail are left out and reported through `skipped`.
 */
export async function systemPath(skipped: (why: string) => void = () => undefined): Promise<string> {
  const dirs: string[] = [];
  for (const d of SYSTEM_PATH) {
    try {
      const real = await rootOwnedPath(d, 'directory', `${d} (on dockerd's PATH)`);
      if (!dirs.includes(real)) dirs.push(real);
    } catch (error) {
      if (!/does not exist/.test((error as Error).message)) skipped((error as Error).message);
    }
  }
  return dirs.join(':');
}

/**
 * systemCommand finds a program on `path` (systemPath's) and returns its resolved location once the rule holds
 * for it; undefined when it is not there. Throws when a non-root user could replace it.
 */
export async function systemCommand(name: string, path: string): Promise<string | undefined> {
  const r = await execa('sh', ['-c', 'command -v "$1"', 'sh', name], { env: { PATH: path }, reject: false });
  const found = r.exitCode === 0 ? String(r.stdout).trim() : '';
  if (!found.startsWith('/')) return undefined;
  return rootOwnedPath(found, 'file', `${name} (run by the root-run dockerd)`);
}

/**
 * installEngineProgram gives the root-run dockerd one of kmslab's own programs: built (as root) straight into the
 * engine directory as `bin/<name>-<digest>`, root-owned and 0755, and checked before it is returned. A copy
 * already there is reused only when the check holds; copies of other digests are removed.
 */
export async function installEngineProgram(dir: OwnProgram, name: string, ldflags = ''): Promise<string> {
  const bin = join(await prepareEngineDir(), 'bin');
  const { digest } = await ownProgramSources(dir, ldflags);
  const target = join(bin, `${name}-${digest}`);
  const what = `kmslab's ${name}`;
  const existing = await rootOwnedPath(target, 'file', what).catch((error: Error) => error);
  if (typeof existing === 'string') return existing;
  if (!/does not exist/.test(existing.message)) throw existing;
  const work = await mkdtemp(join(tmpdir(), `kmslab-${name}-`));
  const temp = join(bin, `.${name}-${digest}.tmp-${process.pid}`);
  try {
    await compileOwnProgram(dir, name, ldflags, work, temp);
    await chmod(temp, 0o755);
    await rename(temp, target);
  } finally {
    await rm(work, { recursive: true, force: true });
    await rm(temp, { force: true });
  }
  for (const old of await readdir(bin)) {
    if (old.startsWith(`${name}-`) && old !== `${name}-${digest}`) await rm(join(bin, old), { force: true });
  }
  return rootOwnedPath(target, 'file', what);
}
