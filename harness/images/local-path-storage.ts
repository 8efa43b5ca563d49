import { stringify } from 'yaml';

/**
 * localPathStorageYaml is the default StorageClass manifest kmslab's kind node image carries at
 * /kind/manifests/default-storage.yaml (kind applies it on create): rancher's local-path-provisioner, built here,
 * and its helper pods on kmslab's Debian base image. Every pod says `imagePullPolicy: Never`: the images are
 * preloaded in the node, and a missing one must fail on the node instead of being pulled.
 */
export function localPathStorageYaml(provisionerImage: string, helperImage: string): string {
  const ns = 'local-path-storage';
  const sa = 'local-path-provisioner-service-account';
  const helperPod = stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'helper-pod' },
    spec: {
      priorityClassName: 'system-node-critical',
      tolerations: [{ key: 'node.kubernetes.io/disk-pressure', operator: 'Exists', effect: 'NoSchedule' }],
      containers: [{ name: 'helper-pod', image: helperImage, imagePullPolicy: 'Never' }],
    },
  });
  const docs = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa, namespace: ns } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'local-path-provisioner-role' },
      rules: [
        {
          apiGroups: [''],
          resources: ['nodes', 'persistentvolumeclaims', 'configmaps', 'pods', 'pods/log'],
          verbs: ['get', 'list', 'watch'],
        },
        {
          apiGroups: [''],
          resources: ['persistentvolumes', 'pods'],
          verbs: ['get', 'list', 'watch', 'create', 'patch', 'update', 'delete'],
        },
        { apiGroups: [''], resources: ['persistentvolumeclaims'], verbs: ['update'] },
        { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
        { apiGroups: ['storage.k8s.io'], resources: ['storageclasses'], verbs: ['get', 'list', 'watch'] },
        {
          apiGroups: ['coordination.k8s.io'],
          resources: ['leases'],
          verbs: ['get', 'list', 'watch', 'create', 'update', 'patch'],
        },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'local-path-provisioner-bind' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'local-path-provisioner-role' },
      subjects: [{ kind: 'ServiceAccount', name: sa, namespace: ns }],
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'local-path-provisioner', namespace: ns },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'local-path-provisioner' } },
        template: {
          metadata: { labels: { app: 'local-path-provisioner' } },
          spec: {
            serviceAccountName: sa,
            priorityClassName: 'system-node-critical',
            tolerations: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Equal', effect: 'NoSchedule' }],
            containers: [
              {
                name: 'local-path-provisioner',
                image: provisionerImage,
                imagePullPolicy: 'Never',
                command: [
                  '/usr/local/bin/local-path-provisioner',
                  '--debug',
                  'start',
                  '--helper-image',
                  helperImage,
                  '--config',
                  '/etc/config/config.json',
                ],
                volumeMounts: [{ name: 'config-volume', mountPath: '/etc/config/' }],
                env: [
                  { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                  { name: 'CONFIG_MOUNT_PATH', value: '/etc/config/' },
                ],
              },
            ],
            volumes: [{ name: 'config-volume', configMap: { name: 'local-path-config' } }],
          },
        },
      },
    },
    {
      apiVersion: 'storage.k8s.io/v1',
      kind: 'StorageClass',
      metadata: { name: 'standard', annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } },
      provisioner: 'rancher.io/local-path',
      volumeBindingMode: 'WaitForFirstConsumer',
      reclaimPolicy: 'Delete',
    },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'local-path-config', namespace: ns },
      data: {
        'config.json': JSON.stringify({
          nodePathMap: [{ node: 'DEFAULT_PATH_FOR_NON_LISTED_NODES', paths: ['/var/local-path-provisioner'] }],
        }),
        setup: '#!/bin/sh\nset -eu\nmkdir -m 0777 -p "$VOL_DIR"\n',
        teardown: '#!/bin/sh\nset -eu\nrm -rf "$VOL_DIR"\n',
        'helperPod.yaml': helperPod,
      },
    },
  ];
  return docs.map((d) => stringify(d)).join('---\n');
}
