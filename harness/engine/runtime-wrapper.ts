import { createHash } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { isExecutable } from '../binaries/build.js';
import { goEnv } from '../binaries/go-env.js';
import { KmslabError } from '../common/errors.js';
import { cacheRoot, packageRoot } from '../common/paths.js';

/** The OCI runtime name kmslab registers with dockerd; kmslab's kind nodes ask for it (see docker-shim.ts). */
export const RUNTIME_NAME = 'kmslab';

/** The Docker authorization plugin kmslab's dockerd consults before every API request (no-pull/main.go). */
export const NO_PULL_PLUGIN = 'kmslab-no-pull';

/** OwnProgram names one of kmslab's own small Go programs (harness/engine/<dir>: standard library only). */
export type OwnProgram = 'oci-runtime' | 'no-pull';

/** ownProgramSources lists a program's files and a digest of them and the link flags: its build's identity. */
export async function ownProgramSources(
  dir: OwnProgram,
  ldflags: string,
): Promise<{ source: string; files: string[]; digest: string }> {
  const source = join(packageRoot, 'harness/engine', dir);
  const files = (await readdir(source)).filter((f) => f === 'go.mod' || (f.endsWith('.go') && !f.endsWith('_test.go')));
  const hash = createHash('sha256').update(ldflags);
  for (const f of files.sort()) hash.update(f).update(await readFile(join(source, f)));
  return { source, files, digest: hash.digest('hex').slice(0, 12) };
}

/**
 * compileOwnProgram builds a program's sources, copied into `work` (away from any go.work above the checkout), to
 * `out`. No module is downloaded: the programs use the standard library only.
 */
export async function compileOwnProgram(dir: OwnProgram, name: string, ldflags: string, work: string, out: string) {
  const { source, files } = await ownProgramSources(dir, ldflags);
  await mkdir(work, { recursive: true, mode: 0o700 });
  for (const f of files) await copyFile(join(source, f), join(work, f));
  const result = await execa('go', ['build', '-trimpath', `-ldflags=-s -w ${ldflags}`.trim(), '-o', out, '.'], {
    cwd: work,
    env: { ...goEnv(), GOWORK: 'off' },
    reject: false,
    all: true,
  });
  if (result.exitCode !== 0) {
    throw new KmslabError('build-failed', `building ${name} failed (exit ${result.exitCode}):\n${result.all}`);
  }
}

/**
 * buildOwnProgram builds one of kmslab's own programs into the user's cache, keyed by its sources and link flags:
 * for running it as this user (tests). What the root-run dockerd executes comes from installEngineProgram instead.
 */
export async function buildOwnProgram(dir: OwnProgram, name: string, ldflags = ''): Promise<string> {
  const { digest } = await ownProgramSources(dir, ldflags);
  const target = join(cacheRoot(), 'bin', name, digest, name);
  if (await isExecutable(target)) return target;
  await mkdir(join(target, '..'), { recursive: true });
  const temp = `${target}.tmp-${process.pid}`;
  await compileOwnProgram(dir, name, ldflags, join(cacheRoot(), 'build', `${name}-${digest}`), temp);
  await rename(temp, target);
  return target;
}

/** runtimeWrapperFlags are kmslab-runc's link flags: the real runc it runs (oci-runtime/main.go). */
export const runtimeWrapperFlags = (runc: string) => `-X main.runc=${runc}`;

/** missingCapabilities: how many capabilities this machine's bounding set lacks (0 on most hosts). */
export async function missingCapabilities(): Promise<number> {
  const status = await readFile('/proc/self/status', 'utf8');
  const bounding = BigInt(`0x${/^CapBnd:\s*([0-9a-f]+)/m.exec(status)?.[1] ?? '0'}`);
  const last = Number((await readFile('/proc/sys/kernel/cap_last_cap', 'utf8')).trim());
  let missing = 0;
  for (let cap = 0; cap <= last; cap++) if ((bounding & (1n << BigInt(cap))) === 0n) missing++;
  return missing;
}
