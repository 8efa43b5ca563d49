import { join } from 'node:path';
import { findBinary } from '../binaries/find.js';
import type { ProgressListener } from '../binaries/build.js';
import { buildGoTool, goTools } from '../binaries/go-tools.js';
import { KmslabError } from '../common/errors.js';
import { dockerInfo } from '../engine/docker-engine.js';
import { fakeKmsImage, nodeRuntimeImage, tagImage } from './fake-kms-image.js';
import { kmslabImageOn, KMSLAB_IMAGE } from './kmslab-image.js';
import { buildPause, kubeadmImages, kubeImages } from './kube-images.js';
import { nodeImage } from './node-image.js';
import { COMPOSE_IMAGES, ETCD_VERSION, K8S_VERSION, kindNodeImage } from './versions.js';
import { rootfsImage } from './rootfs-image.js';

export { COMPOSE_IMAGES, ETCD_VERSION, K8S_VERSION, kindNodeImage };

/** One piece of `kmslab build --images`: what it made, whether it was built now or found cached, how long it took. */
export interface BuiltPiece {
  piece: string;
  result: string;
  built: boolean;
  seconds: number;
  note?: string;
}

/**
 * buildImages builds, or finds cached, everything the kind and compose backends run, on this machine only: the
 * binaries (Go modules, gcc), kmslab's Debian base (debootstrap), the Kubernetes images kubeadm names, the kind node
 * image with all of them preloaded, and the compose images. Each piece is keyed by its inputs and reused when they
 * have not changed. Heavy builds run one after the other (2-core machines).
 */
export async function buildImages(
  o: { say?: (m: string) => void; onBuildProgress?: ProgressListener } = {},
): Promise<BuiltPiece[]> {
  const say = o.say ?? (() => undefined);
  if (!(await dockerInfo())) {
    throw new KmslabError('failed', 'no container engine answers `docker info`; start one with: kmslab engine start');
  }
  const pieces: BuiltPiece[] = [];
  const step = async <T>(
    piece: string,
    run: () => Promise<T>,
    describe: (r: T) => { result: string; built: boolean; note?: string },
  ): Promise<T> => {
    const started = Date.now();
    say(`▸ ${piece}`);
    const value = await run();
    const d = describe(value);
    const seconds = Math.round((Date.now() - started) / 100) / 10;
    pieces.push({ piece, ...d, seconds });
    say(`  ${d.built ? 'built' : 'cached'}: ${d.result} (${seconds} s)${d.note ? ` — ${d.note}` : ''}`);
    return value;
  };
  const progress = o.onBuildProgress ? { onProgress: o.onBuildProgress } : {};
  const binary = (name: 'etcd' | 'kube-apiserver' | 'kind') =>
    step(
      `${name} binary`,
      () => findBinary(name, progress),
      (b) => ({ result: b.path, built: b.source === 'built' }),
    );
  const tool = (t: (typeof goTools)[keyof typeof goTools]) =>
    step(
      `${t.name} ${t.version} binaries`,
      () => buildGoTool(t, o.onBuildProgress),
      (r) => ({ result: r.dir, built: r.built }),
    );

  const etcd = await binary('etcd');
  const apiserver = await binary('kube-apiserver');
  await binary('kind');
  const kubeNode = (await tool(goTools.kubeNode)).dir;
  const crictl = (await tool(goTools.crictl)).dir;
  const coredns = (await tool(goTools.coredns)).dir;
  await tool(goTools.dockerCompose);

  const rootfs = (
    await step(
      'Debian bookworm base image',
      () => rootfsImage(say),
      (r) => ({ result: r.tag, built: r.built }),
    )
  ).tag;
  const kubeadm = join(kubeNode, 'kubeadm');
  const wanted = await kubeadmImages(kubeadm, K8S_VERSION);
  const pauseTag = wanted.find((t) => /\/pause:/.test(t));
  if (!pauseTag) throw new KmslabError('build-failed', `kubeadm lists no pause image: ${wanted.join(', ')}`);
  const pauseVersion = pauseTag.slice(pauseTag.lastIndexOf(':') + 1);
  const pause = await step(
    `pause ${pauseVersion} (gcc, pause.c from k8s.io/kubernetes)`,
    () => buildPause(K8S_VERSION, pauseVersion),
    (p) => ({ result: p.path, built: p.built }),
  );
  const kube = await step(
    'Kubernetes images (the tags `kubeadm config images list` names)',
    () =>
      kubeImages(
        {
          kubeadm,
          kubeApiserver: apiserver.path,
          kubeControllerManager: join(kubeNode, 'kube-controller-manager'),
          kubeScheduler: join(kubeNode, 'kube-scheduler'),
          kubeProxy: join(kubeNode, 'kube-proxy'),
          etcd: etcd.path,
          etcdVersion: etcd.version ?? 'from KMSLAB_ETCD',
          coredns: join(coredns, 'coredns'),
          pause: pause.path,
        },
        K8S_VERSION,
        rootfs,
        say,
      ),
    (images) => ({
      result: images.map((i) => i.tag).join(', '),
      built: images.some((i) => i.built),
      ...(images.some((i) => i.note)
        ? { note: images.flatMap((i) => (i.note ? [`${i.tag} ${i.note}`] : [])).join('; ') }
        : {}),
    }),
  );
  await step(
    `kind node image ${kindNodeImage()}`,
    () =>
      nodeImage(
        {
          tag: kindNodeImage(),
          k8sVersion: K8S_VERSION,
          rootfs,
          kubeadm,
          kubelet: join(kubeNode, 'kubelet'),
          kubectl: join(kubeNode, 'kubectl'),
          crictl: join(crictl, 'crictl'),
          images: kube.map((i) => i.tag),
          pauseImage: pauseTag,
        },
        say,
      ),
    (r) => ({ result: r.tag, built: r.built }),
  );

  const etcdImage = kube.find((i) => /\/etcd:/.test(i.tag))!.tag;
  await step(
    'compose images (etcd, kube-apiserver: the same images as kind’s)',
    async () => {
      await tagImage(etcdImage, COMPOSE_IMAGES.etcd);
      return `${COMPOSE_IMAGES.etcd} (= ${etcdImage}), ${COMPOSE_IMAGES.kubeApiserver}`;
    },
    (r) => ({ result: r, built: false }),
  );
  const runtime = await step(
    'node runtime image (Debian base + this machine’s node)',
    () => nodeRuntimeImage(rootfs),
    (r) => ({ result: r.tag, built: r.built }),
  );
  const fakeKms = await step(
    'fake-KMS image (Dockerfile, offline)',
    () => fakeKmsImage(COMPOSE_IMAGES.fakeKms, runtime.tag, say),
    (r) => ({ result: r.tag, built: r.built }),
  );
  await step(
    `kmslab image ${KMSLAB_IMAGE} (the fake-KMS image + etcd and kube-apiserver)`,
    () => kmslabImageOn(fakeKms.tag),
    (r) => ({ result: r.tag, built: r.built }),
  );
  return pieces;
}
