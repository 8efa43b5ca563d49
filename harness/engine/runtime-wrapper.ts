import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { isExecutable } from '../binaries/build.js';
import { goEnv } from '../binaries/go-env.js';
import { KmslabError } from '../common/errors.js';
import { cacheRoot, repoRoot } from '../common/paths.js';

/** The OCI runtime name kmslab registers with dockerd; kmslab's kind nodes ask for it (see docker-shim.ts). */
export const RUNTIME_NAME = 'kmslab';

const source = join(repoRoot, 'harness/engine/oci-runtime');

/**
 * buildRuntimeWrapper builds kmslab-runc (oci-runtime/main.go: fits capabilities and rlimits to this host, then
 * runs the real runc) for a given runc path, into the cache. Standard library only: no module download.
 */
export async function buildRuntimeWrapper(runc: string): Promise<string> {
  const files = await Promise.all(['go.mod', 'main.go'].map((f) => readFile(join(source, f))));
  const digest = createHash('sha256')
    .update(Buffer.concat([...files, Buffer.from(runc)]))
    .digest('hex')
    .slice(0, 12);
  const target = join(cacheRoot(), 'bin', 'kmslab-runc', digest, 'kmslab-runc');
  if (await isExecutable(target)) return target;
  const work = join(cacheRoot(), 'build', `kmslab-runc-${digest}`);
  await mkdir(work, { recursive: true });
  for (const f of ['go.mod', 'main.go']) await copyFile(join(source, f), join(work, f));
  await mkdir(join(target, '..'), { recursive: true });
  const temp = `${target}.tmp-${process.pid}`;
  const result = await execa('go', ['build', '-trimpath', `-ldflags=-s -w -X main.runc=${runc}`, '-o', temp, '.'], {
    cwd: work,
    env: goEnv(),
    reject: false,
    all: true,
  });
  if (result.exitCode !== 0) {
    throw new KmslabError('build-failed', `building kmslab-runc failed (exit ${result.exitCode}):\n${result.all}`);
  }
  await rename(temp, target);
  return target;
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
