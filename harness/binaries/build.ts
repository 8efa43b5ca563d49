import { createHash } from 'node:crypto';
import { access, chmod, copyFile, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { goEnv } from './go-env.js';
import { waitForLock } from '../common/file-lock.js';
import { cacheRoot, packageRoot } from '../common/paths.js';
import { KmslabError } from '../common/errors.js';
import type { Component } from './components.js';

/** BuildProgress is what a long build reports: a phase and a line a person can read. */
export interface BuildProgress {
  component: string;
  version: string;
  phase: 'module' | 'download' | 'compile' | 'done';
  message: string;
  packages?: number;
}

export type ProgressListener = (event: BuildProgress) => void;

/** ModuleFiles is the wrapper module for one component version, and the digest that keys its cached binary. */
export interface ModuleFiles {
  goMod: string;
  goSum: string;
  mainGo: string;
  digest: string;
  pinned: boolean;
}

const sourceDir = (c: Component) => join(packageRoot, 'harness/binaries/go', c.name);

/**
 * moduleFiles returns the wrapper module for a version: the pinned go.mod/go.sum committed in this repo for the
 * default versions, else one generated earlier into the cache, else null (generate it with `generateModule`).
 */
export async function moduleFiles(c: Component, version: string): Promise<ModuleFiles | null> {
  const mainGo = await readFile(join(sourceDir(c), 'main.go'), 'utf8');
  for (const [dir, pinned] of [
    [join(sourceDir(c), 'pins', version), true],
    [join(cacheRoot(), 'modules', c.name, version), false],
  ] as const) {
    try {
      const goMod = await readFile(join(dir, 'go.mod'), 'utf8');
      const goSum = await readFile(join(dir, 'go.sum'), 'utf8');
      const digest = createHash('sha256').update(goMod).update(goSum).update(mainGo).digest('hex').slice(0, 12);
      return { goMod, goSum, mainGo, digest, pinned };
    } catch {
      // not there: try the next place
    }
  }
  return null;
}

/** cachedBinaryPath is where the binary built from a module lives: keyed by component, version and module digest. */
export function cachedBinaryPath(c: Component, version: string, module: ModuleFiles): string {
  return join(cacheRoot(), 'bin', c.name, `${version}-${module.digest}`, c.name);
}

/** generateModule writes go.mod for a version not pinned in the repo, resolves go.sum with `go mod tidy`, and caches both. */
export async function generateModule(
  c: Component,
  version: string,
  onProgress?: ProgressListener,
): Promise<ModuleFiles> {
  onProgress?.({
    component: c.name,
    version,
    phase: 'module',
    message: `resolving ${c.name} ${version} from the Go module proxy`,
  });
  const dir = join(cacheRoot(), 'modules', c.name, version);
  const work = `${dir}.tmp-${process.pid}`;
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  try {
    await writeFile(join(work, 'go.mod'), await c.goMod(version));
    await copyFile(join(sourceDir(c), 'main.go'), join(work, 'main.go'));
    await runGo(['mod', 'tidy'], work, c, version, onProgress);
    await rm(join(work, 'main.go'));
    await rm(dir, { recursive: true, force: true });
    await rename(work, dir);
  } catch (error) {
    await rm(work, { recursive: true, force: true });
    throw error;
  }
  return (await moduleFiles(c, version))!;
}

/**
 * buildBinary compiles the wrapper module into the cache. Concurrent builds of the same binary (parallel test
 * files, two terminals) wait for the first one instead of compiling twice.
 */
export async function buildBinary(
  c: Component,
  version: string,
  module: ModuleFiles,
  onProgress?: ProgressListener,
): Promise<string> {
  const target = cachedBinaryPath(c, version, module);
  const release = await waitForLock(target, `${c.name} ${version} build`);
  try {
    if (await isExecutable(target)) return target;
    const work = join(cacheRoot(), 'build', `${c.name}-${version}-${module.digest}`);
    await mkdir(work, { recursive: true });
    await writeFile(join(work, 'go.mod'), module.goMod);
    await writeFile(join(work, 'go.sum'), module.goSum);
    await writeFile(join(work, 'main.go'), module.mainGo);
    const started = Date.now();
    const temp = `${target}.tmp-${process.pid}`;
    await mkdir(join(target, '..'), { recursive: true });
    await runGo(
      ['build', '-v', '-trimpath', '-mod=readonly', `-ldflags=-s -w ${c.ldflags(version).join(' ')}`, '-o', temp, '.'],
      work,
      c,
      version,
      onProgress,
    );
    await chmod(temp, 0o755);
    await rename(temp, target);
    const size = (await stat(target)).size;
    onProgress?.({
      component: c.name,
      version,
      phase: 'done',
      message: `built ${c.name} ${version} in ${((Date.now() - started) / 1000).toFixed(0)} s (${(size / 2 ** 20).toFixed(0)} MiB) → ${target}`,
    });
    return target;
  } finally {
    await release();
  }
}

export async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

async function runGo(args: string[], cwd: string, c: Component, version: string, onProgress?: ProgressListener) {
  const child = execa('go', args, {
    cwd,
    all: true,
    buffer: { all: true },
    reject: false,
    env: goEnv(),
  });
  let packages = 0;
  const tail: string[] = [];
  for await (const line of child.iterable({ from: 'all' })) {
    tail.push(line);
    if (tail.length > 40) tail.shift();
    if (line.startsWith('go: downloading')) {
      onProgress?.({ component: c.name, version, phase: 'download', message: line.slice(4) });
    } else if (args[0] === 'build' && !line.includes(' ')) {
      packages++;
      onProgress?.({ component: c.name, version, phase: 'compile', message: `compiling ${line}`, packages });
    }
  }
  const result = await child;
  if (result.exitCode !== 0) {
    throw new KmslabError(
      'build-failed',
      `go ${args.join(' ')} failed for ${c.name} ${version} (exit ${result.exitCode}) in ${cwd}:\n${tail.join('\n')}`,
    );
  }
}
