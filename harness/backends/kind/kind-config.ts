import { KmslabError } from '../../common/errors.js';
import { kindNodeImage } from '../../images/versions.js';
import { stringify } from 'yaml';

/** Where things live inside the kind node (and the apiserver static pod, which mounts the same paths). */
export const KIND_PATHS = {
  kmsDir: '/etc/kubernetes/kms',
  socket: '/etc/kubernetes/kms/kms.sock',
  configDir: '/etc/kubernetes/encryption',
  configFile: '/etc/kubernetes/encryption/encryption-config.yaml',
};

export interface KindConfigOptions {
  name: string;
  /** Kubernetes version of the node image, e.g. v1.37.2: it decides the kubeadm config API (v1beta4 from 1.36). */
  k8sVersion: string;
  /** Node image; default kmslab's own, built by `kmslab build --images` (kmslab/kind-node:<k8sVersion>). */
  image?: string;
  /** Host directory holding the plugin socket (the plugin runs on the host, Linux only). */
  hostKmsDir: string;
  /** Host directory holding encryption-config.yaml. */
  hostConfigDir: string;
}

/**
 * kindConfigYaml renders a kind Cluster config wiring the apiserver to a KMS v2 plugin on the host:
 * - extraMounts bring two host *directories* into the node: the socket dir (so a restarted plugin's new socket is
 *   visible) and the encryption config dir (so an atomically replaced file is seen by the reload poller; a file
 *   mount would pin the old inode);
 * - a kubeadm ClusterConfiguration patch adds the encryption flags and mounts both dirs into the apiserver pod.
 * kind uses kubeadm v1beta4 for Kubernetes ≥ 1.36 (extraArgs as name/value lists), v1beta3 before (a map).
 *
 * With kmslab's node image (the default) three more settings apply, for clusters built with nothing pulled:
 * - no default CNI: kindnetd is not built here; the image carries a static bridge config (single node);
 * - kubeadm never pulls (`imagePullPolicy: Never`): every image is preloaded in the node;
 * - kubelet accepts cgroup v1 (`failCgroupV1: false`; from 1.35 it refuses v1 hosts otherwise).
 */
export function kindConfigYaml(o: KindConfigOptions): string {
  const v1beta4 = minorOf(o.k8sVersion) >= 36;
  const kubeadmApi = v1beta4 ? 'kubeadm.k8s.io/v1beta4' : 'kubeadm.k8s.io/v1beta3';
  const args = {
    'encryption-provider-config': KIND_PATHS.configFile,
    'encryption-provider-config-automatic-reload': 'true',
  };
  const patch = {
    apiVersion: kubeadmApi,
    kind: 'ClusterConfiguration',
    apiServer: {
      extraArgs: v1beta4 ? Object.entries(args).map(([name, value]) => ({ name, value })) : args,
      extraVolumes: [
        {
          name: 'encryption-config',
          hostPath: KIND_PATHS.configDir,
          mountPath: KIND_PATHS.configDir,
          readOnly: true,
          pathType: 'DirectoryOrCreate',
        },
        {
          name: 'kms-socket',
          hostPath: KIND_PATHS.kmsDir,
          mountPath: KIND_PATHS.kmsDir,
          pathType: 'DirectoryOrCreate',
        },
      ],
    },
  };
  const ownImage = o.image === undefined || o.image.startsWith('kmslab/');
  const ownImagePatches = [
    { apiVersion: kubeadmApi, kind: 'InitConfiguration', nodeRegistration: { imagePullPolicy: 'Never' } },
    { apiVersion: 'kubelet.config.k8s.io/v1beta1', kind: 'KubeletConfiguration', failCgroupV1: false },
  ];
  return stringify({
    kind: 'Cluster',
    apiVersion: 'kind.x-k8s.io/v1alpha4',
    name: o.name,
    ...(ownImage ? { networking: { disableDefaultCNI: true } } : {}),
    nodes: [
      {
        role: 'control-plane',
        image: o.image ?? kindNodeImage(o.k8sVersion),
        extraMounts: [
          { hostPath: o.hostKmsDir, containerPath: KIND_PATHS.kmsDir },
          { hostPath: o.hostConfigDir, containerPath: KIND_PATHS.configDir, readOnly: true },
        ],
      },
    ],
    kubeadmConfigPatches: [patch, ...(ownImage ? ownImagePatches : [])].map((p) => stringify(p)),
  });
}

function minorOf(version: string): number {
  const m = /^v?1\.(\d+)\./.exec(version);
  if (!m)
    throw new KmslabError('usage', `Kubernetes version "${version}" is not of the form v1.MINOR.PATCH, e.g. v1.37.2`);
  return Number(m[1]);
}
