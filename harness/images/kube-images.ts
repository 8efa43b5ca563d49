import { createHash } from 'node:crypto';
import { mkdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { isExecutable } from '../binaries/build.js';
import { goEnv } from '../binaries/go-env.js';
import { KmslabError } from '../common/errors.js';
import { cacheRoot } from '../common/paths.js';
import { layeredImage, scratchImage } from './image-recipes.js';

/** The programs the Kubernetes images hold, all built on this machine. */
export interface KubeBinaries {
  kubeadm: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kubeScheduler: string;
  kubeProxy: string;
  etcd: string;
  /** The etcd version really inside the etcd image (kubeadm's tag names another). */
  etcdVersion: string;
  coredns: string;
  pause: string;
}

export interface KubeImage {
  tag: string;
  built: boolean;
  /** What the tag does not say (the etcd image holds our etcd, not the tag's version). */
  note?: string;
}

/** kubeadmImages asks the built kubeadm which images it deploys for a Kubernetes version. */
export async function kubeadmImages(kubeadm: string, k8sVersion: string): Promise<string[]> {
  const r = await execa(kubeadm, ['config', 'images', 'list', '--kubernetes-version', k8sVersion], { reject: false });
  if (r.exitCode !== 0) throw new KmslabError('build-failed', `kubeadm config images list failed: ${String(r.stderr)}`);
  return String(r.stdout).trim().split('\n').filter(Boolean);
}

/**
 * kubeImages builds every image `kubeadm config images list` names, with exactly those tags, from binaries built
 * here: static programs in scratch images, kube-proxy on the Debian base (it runs iptables). kubeadm 1.37 asks for
 * etcd 3.7.0-0; that tag then holds kmslab's etcd (v3.6.16, the same binary the local backend runs), and the
 * image carries a label saying so.
 */
export async function kubeImages(
  b: KubeBinaries,
  k8sVersion: string,
  rootfs: string,
  say: (m: string) => void,
): Promise<KubeImage[]> {
  const bin = (name: string, from: string) => [{ path: `usr/local/bin/${name}`, from, mode: 0o755 }];
  const images: KubeImage[] = [];
  for (const tag of await kubeadmImages(b.kubeadm, k8sVersion)) {
    const repo = tag.replace(/^[^/]+\//, '').replace(/:[^:]+$/, '');
    const version = tag.slice(tag.lastIndexOf(':') + 1);
    let result: { tag: string; built: boolean };
    let note: string | undefined;
    switch (repo) {
      case 'kube-apiserver':
        result = await scratchImage(tag, bin('kube-apiserver', b.kubeApiserver));
        break;
      case 'kube-controller-manager':
        result = await scratchImage(tag, bin('kube-controller-manager', b.kubeControllerManager));
        break;
      case 'kube-scheduler':
        result = await scratchImage(tag, bin('kube-scheduler', b.kubeScheduler));
        break;
      case 'kube-proxy':
        result = await layeredImage(tag, rootfs, bin('kube-proxy', b.kubeProxy));
        break;
      case 'etcd':
        note = `holds etcd ${b.etcdVersion} (kubeadm asks for ${version})`;
        result = await scratchImage(tag, bin('etcd', b.etcd), [`LABEL io.kmslab.etcd-version=${b.etcdVersion}`]);
        break;
      case 'coredns/coredns':
        result = await scratchImage(
          tag,
          [{ path: 'coredns', from: b.coredns, mode: 0o755 }],
          ['ENTRYPOINT ["/coredns"]'],
        );
        break;
      case 'pause':
        result = await scratchImage(tag, [{ path: 'pause', from: b.pause, mode: 0o755 }], ['ENTRYPOINT ["/pause"]']);
        break;
      default:
        throw new KmslabError('build-failed', `kubeadm asks for ${tag}, which kmslab does not know how to build`);
    }
    say(`  ${result.built ? 'built' : 'cached'} ${tag}${note ? ` (${note})` : ''}`);
    images.push({ ...result, ...(note ? { note } : {}) });
  }
  return images;
}

/**
 * buildPause compiles the pod sandbox program from `build/pause/linux/pause.c` in the k8s.io/kubernetes module
 * (already in the module cache from the kube-apiserver build) with gcc, statically, into the cache.
 */
export async function buildPause(k8sVersion: string, pauseVersion: string): Promise<{ path: string; built: boolean }> {
  const mod = await execa('go', ['mod', 'download', '-json', `k8s.io/kubernetes@${k8sVersion}`], {
    env: goEnv(),
    reject: false,
  });
  const dir = (JSON.parse(String(mod.stdout)) as { Dir?: string }).Dir;
  if (!dir) throw new KmslabError('build-failed', `k8s.io/kubernetes@${k8sVersion} is not in the Go module cache`);
  const source = join(dir, 'build/pause/linux/pause.c');
  const gcc = await execa('gcc', ['--version'], { reject: false });
  if (gcc.exitCode !== 0) throw new KmslabError('build-failed', 'gcc is needed to build the pause image; install gcc');
  const key = createHash('sha256')
    .update(await readFile(source))
    .update(String(gcc.stdout).split('\n')[0]!)
    .update(pauseVersion)
    .digest('hex')
    .slice(0, 12);
  const target = join(cacheRoot(), 'bin', 'pause', `${pauseVersion}-${key}`, 'pause');
  if (await isExecutable(target)) return { path: target, built: false };
  await mkdir(join(target, '..'), { recursive: true });
  const temp = `${target}.tmp-${process.pid}`;
  const r = await execa(
    'gcc',
    ['-Os', '-Wall', '-Werror', '-static', `-DVERSION=v${pauseVersion}-kmslab`, '-o', temp, source],
    { reject: false, all: true },
  );
  if (r.exitCode !== 0) {
    throw new KmslabError('build-failed', `gcc could not build pause (is libc6-dev installed?):\n${String(r.all)}`);
  }
  await execa('strip', [temp], { reject: false });
  await rename(temp, target);
  return { path: target, built: true };
}
