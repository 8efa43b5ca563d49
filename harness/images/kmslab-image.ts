import { findBinary } from '../binaries/find.js';
import { imageInputs, requireLocalImages } from './docker-images.js';
import { fakeKmsImage, nodeRuntimeImage } from './fake-kms-image.js';
import { layeredImage } from './image-recipes.js';
import { rootfsImage } from './rootfs-image.js';
import { COMPOSE_IMAGES } from './versions.js';

/** kmslab's own image: the whole CLI (as in the fake-KMS image) plus the etcd and kube-apiserver the local backend runs. */
export const KMSLAB_IMAGE = 'kmslab/kmslab:local';

/**
 * Where the image keeps the pinned binaries; KMSLAB_ETCD and KMSLAB_KUBE_APISERVER point there, so
 * `kmslab run --backend local` inside a container never looks for Go.
 */
export const IMAGE_BINARIES = { etcd: '/usr/local/bin/etcd', kubeApiserver: '/usr/local/bin/kube-apiserver' };

/**
 * The image's user: not root, so nothing in it needs privilege (a pod may set runAsUser 0 where a file it must read
 * is root's alone, as kubeadm's etcd keys are). 65532 is the distroless "nonroot" convention.
 */
export const IMAGE_USER = '65532:65532';

/**
 * Everything kmslab writes (lab directories, tsx's compile cache, the binaries cache) goes under /tmp: HOME and
 * TMPDIR point there. A pod with readOnlyRootFilesystem mounts an emptyDir at /tmp and nothing else.
 */
export const IMAGE_WRITABLE_DIR = '/tmp';

/**
 * kmslabImage builds (or finds cached) kmslab/kmslab:local: a layer of two binaries and settings on the fake-KMS
 * image, whose recipe (Debian base + this machine's node + kmslab's sources and production node_modules, offline)
 * it reuses rather than repeats. The layer is keyed by the binaries' bytes and the fake-KMS image's own inputs.
 * Nothing is pulled: every base is a local image built here first.
 */
export async function kmslabImage(
  say: (m: string) => void = () => undefined,
): Promise<{ tag: string; built: boolean }> {
  const rootfs = await rootfsImage(say);
  const runtime = await nodeRuntimeImage(rootfs.tag);
  const fakeKms = await fakeKmsImage(COMPOSE_IMAGES.fakeKms, runtime.tag, say);
  return kmslabImageOn(fakeKms.tag);
}

/** kmslabImageOn layers kmslab's image on a fake-KMS image already built (`kmslab build --images` has just made it). */
export async function kmslabImageOn(fakeKmsTag: string): Promise<{ tag: string; built: boolean }> {
  await requireLocalImages([fakeKmsTag]);
  // The base's tag never changes (…:local), so its own inputs go into this layer's key: new sources, new image.
  const baseInputs = (await imageInputs(fakeKmsTag)) || 'none';
  const etcd = await findBinary('etcd');
  const apiserver = await findBinary('kube-apiserver');
  return layeredImage(
    KMSLAB_IMAGE,
    fakeKmsTag,
    [
      { path: IMAGE_BINARIES.etcd.slice(1), from: etcd.path, mode: 0o755 },
      { path: IMAGE_BINARIES.kubeApiserver.slice(1), from: apiserver.path, mode: 0o755 },
    ],
    [
      `ENV KMSLAB_ETCD=${IMAGE_BINARIES.etcd} KMSLAB_KUBE_APISERVER=${IMAGE_BINARIES.kubeApiserver}`,
      `ENV HOME=${IMAGE_WRITABLE_DIR} TMPDIR=${IMAGE_WRITABLE_DIR}`,
      `USER ${IMAGE_USER}`,
      'CMD ["--help"]',
      `LABEL io.kmslab.base-inputs=${baseInputs}`,
      `LABEL io.kmslab.etcd-version=${etcd.version ?? 'from KMSLAB_ETCD'} io.kmslab.kube-apiserver-version=${apiserver.version ?? 'from KMSLAB_KUBE_APISERVER'}`,
    ],
  );
}
