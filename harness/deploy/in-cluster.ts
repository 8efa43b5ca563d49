import { stringify } from 'yaml';
import { IMAGE_WRITABLE_DIR, KMSLAB_IMAGE } from '../images/kmslab-image.js';

/**
 * The in-cluster runs of `kmslab inspect` (issue 23): a Job, a CronJob for drift detection and a Sonobuoy plugin,
 * all built from one pod recipe here so the three never drift apart. deploy/*.yaml are this module's output
 * (`npx tsx harness/deploy/write-manifests.ts`); a unit test fails when they differ.
 */

export const NAMESPACE = 'kmslab';
export const JOB_NAME = 'kmslab-inspect';
export const CRONJOB_NAME = 'kmslab-inspect-drift';
export const SONOBUOY_PLUGIN = 'kmslab-inspect';
/** Where Sonobuoy's worker waits for results (its default ResultsDir); `done` there names the file to send. */
export const SONOBUOY_RESULTS = '/tmp/sonobuoy/results';

/** kubeadm's etcd PKI on every control-plane node; the healthcheck client certificate can read every key. */
const ETCD_PKI = '/etc/kubernetes/pki/etcd';
const PKI_FILES = { ca: 'ca.crt', cert: 'healthcheck-client.crt', key: 'healthcheck-client.key' };

/**
 * The gate: every Secret stored by a KMS v2 provider, and every value readable. It passes on a cluster whose
 * Secrets are all encrypted with KMS v2, and names each key that is not (plaintext, KMS v1, aescbc…).
 */
export const INSPECT_GATE = ['not-prefix=k8s:enc:kms:v2:', 'invalid', 'unknown'];

/** inspectArgs: `kmslab inspect` against the node's own etcd (hostNetwork), a JSON summary to the log. */
export function inspectArgs(extra: string[] = []): string[] {
  return [
    'inspect',
    '--etcd',
    'https://127.0.0.1:2379',
    '--cacert',
    `${ETCD_PKI}/${PKI_FILES.ca}`,
    '--cert',
    `${ETCD_PKI}/${PKI_FILES.cert}`,
    '--key',
    `${ETCD_PKI}/${PKI_FILES.key}`,
    '--resource',
    'secrets',
    ...INSPECT_GATE.flatMap((c) => ['--fail-on', c]),
    '--json',
    '--summary',
    ...extra,
  ];
}

const LABELS = { 'app.kubernetes.io/name': 'kmslab-inspect', 'app.kubernetes.io/part-of': 'kmslab' };

/**
 * The inspect container's least privilege: kubeadm writes the etcd client key as root's alone (0600 root:root), so
 * the container runs as uid 0, which owns it, and needs no capability (owner bits, not CAP_DAC_OVERRIDE): all are
 * dropped, no escalation, a read-only root filesystem with an emptyDir at /tmp for what node and tsx write.
 */
const containerSecurity = {
  runAsUser: 0,
  runAsGroup: 0,
  runAsNonRoot: false,
  privileged: false,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

/** Only the three files inspect reads are mounted (read-only): never etcd's CA key or its server and peer keys. */
const pkiVolumes = Object.entries(PKI_FILES).map(([name, file]) => ({
  name: `etcd-${name}`,
  hostPath: { path: `${ETCD_PKI}/${file}`, type: 'File' },
}));
const pkiMounts = Object.entries(PKI_FILES).map(([name, file]) => ({
  name: `etcd-${name}`,
  mountPath: `${ETCD_PKI}/${file}`,
  readOnly: true,
}));

function inspectContainer(o: { name: string; command?: string[]; args: string[]; mounts?: object[] }) {
  return {
    name: o.name,
    image: KMSLAB_IMAGE,
    // kmslab's image is built and loaded locally (kmslab build --images); nothing is ever pulled.
    imagePullPolicy: 'Never',
    ...(o.command ? { command: o.command } : {}),
    args: o.args,
    securityContext: containerSecurity,
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '1Gi' } },
    volumeMounts: [...pkiMounts, { name: 'tmp', mountPath: IMAGE_WRITABLE_DIR }, ...(o.mounts ?? [])],
  };
}

/** Scheduling on a control-plane node, on its network: kubeadm's etcd listens on 127.0.0.1:2379 there. */
const onControlPlane = {
  hostNetwork: true,
  nodeSelector: { 'node-role.kubernetes.io/control-plane': '' },
  tolerations: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' }],
};

const volumes = [...pkiVolumes, { name: 'tmp', emptyDir: { sizeLimit: '256Mi' } }];

/** The Job's pod: inspect only, no API access (no service account token), never restarted. */
export function inspectPodSpec() {
  return {
    ...onControlPlane,
    restartPolicy: 'Never',
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    containers: [inspectContainer({ name: 'inspect', args: inspectArgs() })],
    volumes,
  };
}

/** The Job spec shared by the Job and the CronJob's jobTemplate: one attempt, a deadline, kept a day for its log. */
function inspectJobSpec() {
  return {
    backoffLimit: 0,
    activeDeadlineSeconds: 600,
    ttlSecondsAfterFinished: 86_400,
    template: { metadata: { labels: LABELS }, spec: inspectPodSpec() },
  };
}

/**
 * The namespace: hostNetwork and hostPath volumes are beyond Pod Security's baseline level, so it is labelled
 * privileged although the pod itself asks for no privilege.
 */
function namespace() {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name: NAMESPACE,
      labels: { ...LABELS, 'pod-security.kubernetes.io/enforce': 'privileged' },
    },
  };
}

export function inspectJob() {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: JOB_NAME, namespace: NAMESPACE, labels: LABELS },
    spec: inspectJobSpec(),
  };
}

export function inspectCronJob(schedule = '17 * * * *') {
  return {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name: CRONJOB_NAME, namespace: NAMESPACE, labels: LABELS },
    spec: {
      schedule,
      concurrencyPolicy: 'Forbid',
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 3,
      jobTemplate: { metadata: { labels: LABELS }, spec: inspectJobSpec() },
    },
  };
}

/**
 * The plugin container's script, under Sonobuoy's worker contract: the JUnit report in the results directory (the
 * JSON summary goes to the log), then `done` naming that file for the worker to send. The verdict travels in the
 * JUnit file (a failure per offending condition), so the container ends 0 once its results are handed over.
 */
const SONOBUOY_SCRIPT = [
  `R="\${SONOBUOY_RESULTS_DIR:-${SONOBUOY_RESULTS}}"`,
  `node /opt/kmslab/bin/kmslab.js ${inspectArgs(['--junit', '"$R/kmslab-inspect.xml"']).join(' ')}`,
  'echo "kmslab inspect exited $?"',
  'printf %s "$R/kmslab-inspect.xml" > "$R/done"',
].join('\n');

/**
 * The Sonobuoy plugin definition (Job driver): the same container on the same node, with `podSpec` carrying the
 * scheduling and volumes (Sonobuoy adds its worker container and the results volume to it, and removes nothing).
 * The service account is Sonobuoy's: its worker asks the API whether the plugin container has ended.
 */
export function sonobuoyPlugin() {
  return {
    'sonobuoy-config': {
      driver: 'Job',
      'plugin-name': SONOBUOY_PLUGIN,
      'result-format': 'junit',
      'result-files': ['kmslab-inspect.xml'],
      description: 'kmslab inspect: how every Secret is stored in etcd (KMS v2 or not), read on a control-plane node',
    },
    podSpec: {
      ...onControlPlane,
      restartPolicy: 'Never',
      serviceAccountName: 'sonobuoy-serviceaccount',
      containers: [],
      volumes,
    },
    spec: inspectContainer({
      name: 'plugin',
      command: ['bash', '-c'],
      args: [SONOBUOY_SCRIPT],
      mounts: [{ name: 'results', mountPath: SONOBUOY_RESULTS }],
    }),
  };
}

const HEADER = (what: string) =>
  [
    `# ${what}`,
    '# Generated by harness/deploy/in-cluster.ts: edit that, then run `npx tsx harness/deploy/write-manifests.ts`.',
    `# Needs kmslab's image on the node (${KMSLAB_IMAGE}, imagePullPolicy Never): see docs/verify.md, "In-cluster runs".`,
    '',
  ].join('\n');

const docs = (...objects: object[]) =>
  objects.map((o) => stringify(o, { lineWidth: 0, aliasDuplicateObjects: false, singleQuote: true })).join('---\n');

/** inClusterManifests: deploy/'s files, by name. */
export function inClusterManifests(): Record<string, string> {
  return {
    'inspect-job.yaml':
      HEADER('kmslab inspect once, on a control-plane node: exits 1, naming each Secret not stored with KMS v2.') +
      docs(namespace(), inspectJob()),
    'inspect-cronjob.yaml':
      HEADER('kmslab inspect every hour (drift detection): the same pod as inspect-job.yaml.') +
      docs(namespace(), inspectCronJob()),
    'sonobuoy-plugin.yaml':
      HEADER('A Sonobuoy plugin running the same inspect: `sonobuoy run --plugin deploy/sonobuoy-plugin.yaml`.') +
      docs(sonobuoyPlugin()),
  };
}
