import type { GroupResource } from './group-resource.js';

/**
 * Where kube-apiserver's storage registry keeps the resources whose etcd path is not `/registry/<resource>/`, as
 * k8s.io/kubernetes v1.37.2 lays them out (test/integration/etcd/data.go lists every built-in's expected path).
 * Keyed `group/resource`.
 */
const UNUSUAL: Record<string, string> = {
  '/services': 'services/specs',
  '/endpoints': 'services/endpoints',
  '/nodes': 'minions',
  '/replicationcontrollers': 'controllers',
  'networking.k8s.io/ingresses': 'ingress',
  'apiregistration.k8s.io/apiservices': 'apiregistration.k8s.io/apiservices',
  'apiextensions.k8s.io/customresourcedefinitions': 'apiextensions.k8s.io/customresourcedefinitions',
};

/**
 * Resources served in two groups but stored once: an EncryptionConfiguration names (and the apiserver encrypts) them
 * by the group they are stored under.
 */
const STORED_AS: Record<string, GroupResource> = {
  'events.k8s.io/events': { group: '', resource: 'events' },
};

/** storedAs is the group/resource whose storage (and encryption rule) a served resource uses. */
export function storedAs(gr: GroupResource): GroupResource {
  return STORED_AS[`${gr.group}/${gr.resource}`] ?? gr;
}

/**
 * etcdPrefixOf is the etcd key prefix (default --etcd-prefix /registry, with a trailing '/') under which the apiserver
 * stores every object of a resource: `/registry/<resource>/` for most built-ins, a few named otherwise, and
 * `/registry/<group>/<plural>/` for custom resources. Objects follow as `<namespace>/<name>` or `<name>`.
 */
export function etcdPrefixOf(gr: GroupResource, custom: boolean): string {
  const stored = storedAs(gr);
  if (custom) return `/registry/${gr.group}/${gr.resource}/`;
  return `/registry/${UNUSUAL[`${stored.group}/${stored.resource}`] ?? stored.resource}/`;
}
