import { join } from 'node:path';
import { execa } from 'execa';
import { KmslabError } from '../common/errors.js';
import { cacheRoot } from '../common/paths.js';
import {
  buildBinary,
  cachedBinaryPath,
  generateModule,
  isExecutable,
  moduleFiles,
  type ProgressListener,
} from './build.js';
import { components, type Component } from './components.js';

export type ComponentName = keyof typeof components;

/** ResolvedBinary says which binary will run and where it came from, for reports and `kmslab up --json`. */
export interface ResolvedBinary {
  component: ComponentName;
  path: string;
  version: string | undefined;
  source: 'env' | 'kubebuilder-assets' | 'cache' | 'built';
}

export interface FindOptions {
  /** Version to build or look up in the cache; ignored for binaries given by env vars. Default: the pinned one. */
  version?: string;
  /** false = never run the Go toolchain: fail if no binary is found. Default true. */
  build?: boolean;
  onProgress?: ProgressListener;
}

/**
 * findBinary finds or builds a component, in this order: its env var (`KMSLAB_KUBE_APISERVER`, `KMSLAB_ETCD`),
 * `$KUBEBUILDER_ASSETS/<name>` (setup-envtest users), the per-machine cache, a fresh build from pinned Go modules.
 */
export async function findBinary(name: ComponentName, options: FindOptions = {}): Promise<ResolvedBinary> {
  const c: Component = components[name];
  const fromEnv = process.env[c.envVar];
  if (fromEnv) {
    if (!(await isExecutable(fromEnv))) {
      throw new KmslabError(
        'missing-binary',
        `${c.envVar}=${fromEnv} is not an executable file; fix the path or unset ${c.envVar}`,
      );
    }
    return { component: name, path: fromEnv, version: undefined, source: 'env' };
  }
  const assets = process.env.KUBEBUILDER_ASSETS;
  if (assets && (await isExecutable(join(assets, name)))) {
    return { component: name, path: join(assets, name), version: undefined, source: 'kubebuilder-assets' };
  }
  const version = options.version ?? c.defaultVersion;
  let module = await moduleFiles(c, version);
  if (module && (await isExecutable(cachedBinaryPath(c, version, module)))) {
    return { component: name, path: cachedBinaryPath(c, version, module), version, source: 'cache' };
  }
  if (options.build === false || !(await hasGo())) {
    throw new KmslabError(
      'missing-binary',
      [
        `no ${name} ${version} binary found, and ${options.build === false ? 'building is turned off' : 'the Go toolchain (go) is not on PATH'}.`,
        'Any of these fixes it:',
        `  - set ${c.envVar}=/path/to/${name}`,
        `  - set KUBEBUILDER_ASSETS to a directory holding ${name} (e.g. from setup-envtest)`,
        `  - install Go ≥ 1.26 and run again: kmslab builds ${name} ${version} from pinned Go modules into ${cacheRoot()}`,
      ].join('\n'),
    );
  }
  module ??= await generateModule(c, version, options.onProgress);
  const path = await buildBinary(c, version, module, options.onProgress);
  return { component: name, path, version, source: 'built' };
}

async function hasGo(): Promise<boolean> {
  const { exitCode } = await execa('go', ['version'], { reject: false });
  return exitCode === 0;
}
