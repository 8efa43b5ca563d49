import { components } from '../binaries/components.js';

/** The versions the container images are built for: the same defaults as the local backend's binaries. */
export const K8S_VERSION = components['kube-apiserver'].defaultVersion;
export const ETCD_VERSION = components.etcd.defaultVersion;

/** The kind node image kmslab builds for a Kubernetes version (the kind backend's default --image). */
export const kindNodeImage = (k8sVersion = K8S_VERSION) => `kmslab/kind-node:${k8sVersion}`;

/** The images docker-compose.yml names by default (each overridable there by an environment variable). */
export const COMPOSE_IMAGES = {
  etcd: `kmslab/etcd:${ETCD_VERSION}`,
  kubeApiserver: `registry.k8s.io/kube-apiserver:${K8S_VERSION}`,
  fakeKms: 'kmslab/fake-kms:local',
} as const;
