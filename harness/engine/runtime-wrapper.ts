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

/**
 * buildOwnProgram builds one of kmslab's own small Go programs (harness/engine/<dir>: standard library only, so no
 * module download) into the cache, keyed by its sources and link flags.
 */
export async function buildOwnProgram(dir: 'oci-runtime' | 'no-pull', name: string, ldflags = ''): Promise<string> {
  const source = join(packageRoot, 'harness/engine', dir);
  const files = (await readdir(source)).filter((f) => f === 'go.mod' || (f.endsWith('.go') && !f.endsWith('_test.go')));
  const hash = createHash('sha256').update(ldflags);
  for (const f of files.sort()) hash.update(f).update(await readFile(join(source, f)));
  const digest = hash.digest('hex').slice(0, 12);
  const target = join(cacheRoot(), 'bin', name, digest, name);
  if (await isExecutable(target)) return target;
  const work = join(cacheRoot(), 'build', `${name}-${digest}`);
  await mkdir(work, { recursive: true });
  for (const f of files) await copyFile(join(source, f), join(work, f));
  await mkdir(join(target, '..'), { recursive: true });
  const temp = `${target}.tmp-${process.pid}`;
  const result = await execa('go', ['build', '-trimpath', `-ldflags=-s -w ${ldflags}`.trim(), '-o', temp, '.'], {
    cwd: work,
    env: goEnv(),
    reject: false,
    all: true,
  });
  if (result.exitCode !== 0) {
    throw new KmslabError('build-failed', `building ${name} failed (exit ${result.exitCode}):\n${result.all}`);
  }
  await rename(temp, target);
  return target;
}

/**
 * buildRuntimeWrapper builds kmslab-runc (oci-runtime/main.go: fits capabilities and rlimits to this host, then
 * runs the real runc) for a given runc path.
 */
export function buildRuntimeWrapper(runc: string): Promise<string> {
  return buildOwnProgram('oci-runtime', 'kmslab-runc', `-X main.runc=${runc}`);
}

/** missingCapabilities: how many capabilities this machine's bounding set lacks (0 on most hosts). */
export async function missingCapabilities(): Promise<number> {
  const status = await readFile('/proc/self/status', 'utf8');
  const bounding = BigInt(`0x${/^CapBnd:\s*([0-9a-f]+)/m.exec(status)?.[1] ?? '0'}`);
  const last = Number((await readFile('/proc/sys/kernel/cap_last_cap', 'utf8')).trim());
  let missing = 0;
  for (let cap = 0; cap <= last; cap++) if ((bounding & (1n << BigInt(cap))) === 0n) missing++;
  return missing;
}
