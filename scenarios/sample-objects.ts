import type { KubeObject } from '../harness/kube/rest-objects.js';

/** The bare minimum each sample object needs besides its name and payload, given its namespace. */
type Body = Omit<KubeObject, 'metadata' | 'apiVersion' | 'kind'>;

const labels = { app: 'kmslab-sample' };
// Never run: a lab has no kubelet, scheduler or controllers, so these only sit in etcd.
const container = { name: 'sample', image: 'kmslab.invalid/sample:none' };
const template = { metadata: { labels }, spec: { containers: [container] } };
const jobTemplate = { spec: { template: { spec: { restartPolicy: 'Never', containers: [container] } } } };

/**
 * Namespaced kinds kmslab can write samples of, keyed `group/resource`: enough to put data under every resource a
 * config commonly encrypts. Custom resources (any fields) are handled apart; other resources are proved on the
 * objects the cluster already has (Pods are left out: admission wants the namespace's default ServiceAccount, which
 * only kube-controller-manager makes).
 */
const BODIES: Record<string, Body | ((namespace: string) => Body)> = {
  '/configmaps': { data: { note: 'kmslab sample' } },
  '/serviceaccounts': {},
  '/services': { spec: { ports: [{ port: 80 }] } },
  '/endpoints': { subsets: [] },
  '/podtemplates': { template },
  '/replicationcontrollers': { spec: { replicas: 1, selector: labels, template } },
  '/limitranges': { spec: { limits: [{ type: 'Container', max: { cpu: '1' } }] } },
  '/resourcequotas': { spec: { hard: { pods: '10' } } },
  '/persistentvolumeclaims': {
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
  },
  // An event's object must be in the event's own namespace.
  '/events': (namespace) => ({
    involvedObject: { kind: 'ConfigMap', namespace, name: 'sample' },
    reason: 'Sample',
    message: 'kmslab sample',
  }),
  'apps/deployments': { spec: { replicas: 1, selector: { matchLabels: labels }, template } },
  'apps/replicasets': { spec: { replicas: 1, selector: { matchLabels: labels }, template } },
  'apps/statefulsets': { spec: { serviceName: 'sample', selector: { matchLabels: labels }, template } },
  'apps/daemonsets': { spec: { selector: { matchLabels: labels }, template } },
  'apps/controllerrevisions': { revision: 1, data: { sample: true } },
  'batch/jobs': jobTemplate,
  'batch/cronjobs': { spec: { schedule: '0 0 1 1 *', jobTemplate } },
  'coordination.k8s.io/leases': { spec: { holderIdentity: 'kmslab' } },
  'policy/poddisruptionbudgets': { spec: { minAvailable: 1, selector: { matchLabels: labels } } },
  'networking.k8s.io/networkpolicies': { spec: { podSelector: {} } },
  'autoscaling/horizontalpodautoscalers': {
    spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'sample' }, maxReplicas: 2 },
  },
  'rbac.authorization.k8s.io/roles': { rules: [] },
  'rbac.authorization.k8s.io/rolebindings': {
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'sample' },
    subjects: [],
  },
};

/**
 * sampleBody is what a sample object of a resource holds besides its metadata, or undefined when kmslab does not
 * know how to write one (a custom resource takes any fields: it gets a small spec).
 */
export function sampleBody(
  r: { group: string; resource: string; custom: boolean; namespaced: boolean },
  namespace: string,
): Body | undefined {
  if (!r.namespaced) return undefined;
  if (r.custom) return { spec: { sample: true } };
  const body = BODIES[`${r.group}/${r.resource}`];
  return typeof body === 'function' ? body(namespace) : body && structuredClone(body);
}
