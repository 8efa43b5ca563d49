import { createHash } from 'node:crypto';
import { chmod, cp, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { execa } from 'execa';
import { KmslabError } from '../common/errors.js';
import { cacheRoot, packageRoot } from '../common/paths.js';
import { waitForLock } from '../common/file-lock.js';
import { isExecutable, type ProgressListener } from './build.js';
import { kubeApiserver } from './components.js';
import { goEnv } from './go-env.js';

/**
 * GoTool is a set of upstream main packages built unchanged from a pinned wrapper module: its go.mod requires the
 * upstream module and lists the packages as `tool` directives (so `go mod tidy` keeps what they need); no main.go of
 * ours. Pins live in harness/binaries/go/<name>/pins/<version>/ like the other components.
 */
export interface GoTool {
  name: string;
  version: string;
  /** Binary name → main package path. */
  binaries: Record<string, string>;
  /** go.mod of the wrapper (without go.sum), for `scripts/pin-go-tools.ts`. */
  goMod(): Promise<string>;
  ldflags?: string[];
  /**
   * ownSources: the wrapper module holds Go code of ours (every file in harness/binaries/go/<name>/ outside pins/),
   * copied into the build and counted in the digest, so an edit rebuilds the binaries.
   */
  ownSources?: boolean;
}

const toolDir = (t: GoTool) => join(packageRoot, 'harness/binaries/go', t.name);

/** ownSourceFiles lists a tool's own Go files (relative paths, sorted), none for tools built from upstream alone. */
async function ownSourceFiles(t: GoTool): Promise<string[]> {
  if (!t.ownSources) return [];
  const entries = await readdir(toolDir(t), { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(toolDir(t), join(e.parentPath, e.name)))
    .filter((f) => !f.startsWith('pins/'))
    .sort();
}

async function copyOwnSources(t: GoTool, work: string): Promise<void> {
  for (const f of await ownSourceFiles(t)) await cp(join(toolDir(t), f), join(work, f), { force: true });
}

/** kubeNode: kubeadm, kubelet, kubectl and the control-plane programs a kind node image needs, from k8s.io/kubernetes. */
export const kubeNode: GoTool = {
  name: 'kube-node',
  version: kubeApiserver.defaultVersion,
  binaries: Object.fromEntries(
    ['kubeadm', 'kubelet', 'kubectl', 'kube-scheduler', 'kube-controller-manager', 'kube-proxy'].map((b) => [
      b,
      `k8s.io/kubernetes/cmd/${b}`,
    ]),
  ),
  async goMod() {
    // The kube-apiserver wrapper's go.mod already re-points every staging module at its tag; reuse its recipe.
    const base = (await kubeApiserver.goMod(this.version)).replace(
      'module kmslab.local/kube-apiserver',
      'module kmslab.local/kube-node',
    );
    return `${base}\ntool (\n${Object.values(this.binaries)
      .map((p) => `\t${p}`)
      .join('\n')}\n)\n`;
  },
  ldflags: kubeApiserver.ldflags(kubeApiserver.defaultVersion),
};

/** simpleTool: upstream modules that can be required as they are (no replace directives needed). */
function simpleTool(name: string, module: string, version: string, binaries: Record<string, string>): GoTool {
  return {
    name,
    version,
    binaries,
    async goMod() {
      return [
        `module kmslab.local/${name}`,
        '',
        `require ${module} ${version}`,
        '',
        'tool (',
        ...Object.values(binaries).map((p) => `\t${p}`),
        ')',
        '',
      ].join('\n');
    },
  };
}

/** crictl: kind nodes use it, and so does the kind backend to find and restart the apiserver container. */
export const crictl = simpleTool('crictl', 'sigs.k8s.io/cri-tools', 'v1.36.0', {
  crictl: 'sigs.k8s.io/cri-tools/cmd/crictl',
});

/** CoreDNS at the version kubeadm 1.37 deploys (v1.14.6). */
export const coredns = simpleTool('coredns', 'github.com/coredns/coredns', 'v1.14.6', {
  coredns: 'github.com/coredns/coredns',
});

/** Docker Compose v2 (`go install` refuses it: its go.mod has exclude lines, which a wrapper module does not need). */
export const dockerCompose = simpleTool('docker-compose', 'github.com/docker/compose/v2', 'v2.40.3', {
  'docker-compose': 'github.com/docker/compose/v2/cmd',
});

/**
 * alibaba-kms-plugin: our KMS v2 plugin on k8s.io/kms/pkg/service and the Alibaba Cloud Go SDK (the one ack-kms-plugin
 * uses), plus alibaba-sdk-probe, a test client that calls the KMS API through either Alibaba SDK. Both are our code
 * (harness/binaries/go/alibaba-kms-plugin); the version is the k8s.io/kms version they are built on.
 */
export const alibabaKmsPlugin: GoTool = {
  name: 'alibaba-kms-plugin',
  version: 'v0.37.2',
  binaries: {
    'alibaba-kms-plugin': 'kmslab.local/alibaba-kms-plugin',
    'alibaba-sdk-probe': 'kmslab.local/alibaba-kms-plugin/cmd/alibaba-sdk-probe',
  },
  ownSources: true,
  async goMod() {
    return [
      'module kmslab.local/alibaba-kms-plugin',
      '',
      'go 1.26.0',
      '',
      'require (',
      `\tk8s.io/kms ${this.version}`,
      ...Object.entries(ALIBABA_SDK).map(([m, v]) => `\t${m} ${v}`),
      ')',
      '',
    ].join('\n');
  },
};

// The Alibaba SDKs, pinned: the classic one ack-kms-plugin uses, and the newer generated one (kms-20160120).
const ALIBABA_SDK = {
  'github.com/aliyun/alibaba-cloud-sdk-go': 'v1.63.107',
  'github.com/alibabacloud-go/kms-20160120/v3': 'v3.2.3',
  'google.golang.org/grpc': 'v1.82.1',
  // Only so that the old monolithic genproto an SDK dependency names does not also provide googleapis/rpc.
  'google.golang.org/genproto': 'v0.0.0-20260526163538-3dc84a4a5aaa',
};

export const goTools = { kubeNode, crictl, coredns, dockerCompose, alibabaKmsPlugin } as const;

/** PinnedTool is a GoTool's committed go.mod and go.sum, and the digest that keys its cached binaries. */
export interface PinnedTool {
  goMod: string;
  goSum: string;
  digest: string;
}

export async function pinnedTool(t: GoTool): Promise<PinnedTool> {
  const dir = join(toolDir(t), 'pins', t.version);
  try {
    const goMod = await readFile(join(dir, 'go.mod'), 'utf8');
    const goSum = await readFile(join(dir, 'go.sum'), 'utf8');
    const hash = createHash('sha256')
      .update(goMod)
      .update(goSum)
      .update(JSON.stringify([t.binaries, t.ldflags ?? []]));
    for (const f of await ownSourceFiles(t)) hash.update(f).update(await readFile(join(toolDir(t), f)));
    const digest = hash.digest('hex').slice(0, 12);
    return { goMod, goSum, digest };
  } catch {
    throw new KmslabError(
      'missing-binary',
      `no pinned module for ${t.name} ${t.version} in ${dir}; generate it with: npx tsx scripts/pin-go-tools.ts ${t.name}`,
    );
  }
}

/** goToolDir is where a tool's binaries live in the per-machine cache, keyed by name, version and module digest. */
export function goToolDir(t: GoTool, pin: PinnedTool): string {
  return join(cacheRoot(), 'bin', t.name, `${t.version}-${pin.digest}`);
}

/**
 * buildGoTool returns the directory holding every binary of a tool, building them (one `go build` for all, so
 * shared packages compile once) into the cache the first time. Concurrent callers wait for the first build.
 */
export async function buildGoTool(t: GoTool, onProgress?: ProgressListener): Promise<{ dir: string; built: boolean }> {
  const pin = await pinnedTool(t);
  const dir = goToolDir(t, pin);
  const complete = async () =>
    (await Promise.all(Object.keys(t.binaries).map((b) => isExecutable(join(dir, b))))).every(Boolean);
  if (await complete()) return { dir, built: false };
  const release = await waitForLock(dir, `${t.name} ${t.version} build`);
  try {
    if (await complete()) return { dir, built: false };
    const work = join(cacheRoot(), 'build', `${t.name}-${t.version}-${pin.digest}`);
    await mkdir(work, { recursive: true });
    await writeFile(join(work, 'go.mod'), pin.goMod);
    await writeFile(join(work, 'go.sum'), pin.goSum);
    await copyOwnSources(t, work);
    const out = `${dir}.tmp-${process.pid}`;
    await rm(out, { recursive: true, force: true });
    await mkdir(out, { recursive: true });
    const started = Date.now();
    const packages = Object.values(t.binaries);
    const ldflags = `-ldflags=-s -w ${(t.ldflags ?? []).join(' ')}`.trimEnd();
    await runGo(
      t,
      ['build', '-v', '-trimpath', '-mod=readonly', ldflags, '-o', `${out}/`, ...packages],
      work,
      onProgress,
    );
    // go build names each binary after its package's last path element; give them the names we asked for.
    for (const [binary, pkg] of Object.entries(t.binaries)) {
      const produced = pkg.split('/').at(-1)!;
      if (produced !== binary) await rename(join(out, produced), join(out, binary));
      await chmod(join(out, binary), 0o755);
    }
    await rm(dir, { recursive: true, force: true });
    await rename(out, dir);
    onProgress?.({
      component: t.name,
      version: t.version,
      phase: 'done',
      message: `built ${t.name} ${t.version} (${(await readdir(dir)).join(', ')}) in ${((Date.now() - started) / 1000).toFixed(0)} s → ${dir}`,
    });
    return { dir, built: true };
  } finally {
    await release();
  }
}

/** pinGoTool resolves a tool's wrapper module from the module proxy (`go mod tidy`) and writes its pins. */
export async function pinGoTool(t: GoTool, onProgress?: ProgressListener): Promise<string> {
  const pins = join(toolDir(t), 'pins', t.version);
  const work = join(cacheRoot(), 'modules', t.name, `${t.version}.tmp-${process.pid}`);
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  try {
    await writeFile(join(work, 'go.mod'), await t.goMod());
    await copyOwnSources(t, work);
    await runGo(t, ['mod', 'tidy'], work, onProgress);
    await mkdir(pins, { recursive: true });
    for (const f of ['go.mod', 'go.sum']) await writeFile(join(pins, f), await readFile(join(work, f)));
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return pins;
}

async function runGo(t: GoTool, args: string[], cwd: string, onProgress?: ProgressListener): Promise<void> {
  const child = execa('go', args, { cwd, all: true, reject: false, env: goEnv() });
  const tail: string[] = [];
  let packages = 0;
  for await (const line of child.iterable({ from: 'all' })) {
    tail.push(line);
    if (tail.length > 40) tail.shift();
    if (line.startsWith('go: downloading')) {
      onProgress?.({ component: t.name, version: t.version, phase: 'download', message: line.slice(4) });
    } else if (args[0] === 'build' && !line.includes(' ')) {
      packages++;
      onProgress?.({ component: t.name, version: t.version, phase: 'compile', message: `compiling ${line}`, packages });
    }
  }
  const result = await child;
  if (result.exitCode !== 0) {
    throw new KmslabError(
      'build-failed',
      `go ${args.slice(0, 2).join(' ')} failed for ${t.name} ${t.version} (exit ${result.exitCode}) in ${cwd}:\n${tail.join('\n')}`,
    );
  }
}
