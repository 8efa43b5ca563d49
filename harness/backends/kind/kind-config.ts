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
  /** Node image; default kindest/node:<k8sVersion>. */
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
 */
export function kindConfigYaml(o: KindConfigOptions): string {
  const v1beta4 = minorOf(o.k8sVersion) >= 36;
  const args = {
    'encryption-provider-config': KIND_PATHS.configFile,
    'encryption-provider-config-automatic-reload': 'true',
  };
  const patch = {
    apiVersion: v1beta4 ? 'kubeadm.k8s.io/v1beta4' : 'kubeadm.k8s.io/v1beta3',
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
  return stringify({
    kind: 'Cluster',
    apiVersion: 'kind.x-k8s.io/v1alpha4',
    name: o.name,
    nodes: [
      {
        role: 'control-plane',
        image: o.image ?? `kindest/node:${o.k8sVersion}`,
        extraMounts: [
          { hostPath: o.hostKmsDir, containerPath: KIND_PATHS.kmsDir },
          { hostPath: o.hostConfigDir, containerPath: KIND_PATHS.configDir, readOnly: true },
        ],
      },
    ],
    kubeadmConfigPatches: [stringify(patch)],
  });
}

function minorOf(version: string): number {
  const m = /^v?1\.(\d+)\./.exec(version);
  if (!m) throw new Error(`Kubernetes version "${version}" is not of the form v1.MINOR.PATCH`);
  return Number(m[1]);
}
