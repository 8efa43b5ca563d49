import { poll } from '../common/wait.js';
import { ApiError, type LabApi } from '../lab.js';
import type { GroupResource } from './group-resource.js';
import { apiErrorOf } from './rest-objects.js';

/** CRD_VERSION is the one version the CRDs kmslab makes serve and store. */
export const CRD_VERSION = 'v1';

/**
 * createCrdFor makes a namespaced CustomResourceDefinition serving `<plural>.<group>` (version v1, any fields kept),
 * so a lab whose EncryptionConfiguration names that custom resource has some to store; it returns once discovery
 * serves the resource. A CRD of that name already there is left as it is.
 */
export async function createCrdFor(api: LabApi, gr: GroupResource, timeoutMs = 60_000): Promise<void> {
  const kind = kindFor(gr.resource);
  // Groups under k8s.io and kubernetes.io are reserved: the apiserver wants them marked as not API-reviewed.
  const reserved = /(^|\.)(k8s|kubernetes)\.io$/.test(gr.group);
  const res = await api.request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${gr.resource}.${gr.group}`,
      ...(reserved ? { annotations: { 'api-approved.kubernetes.io': 'unapproved, a kmslab test resource' } } : {}),
    },
    spec: {
      group: gr.group,
      scope: 'Namespaced',
      names: { plural: gr.resource, singular: kind.toLowerCase(), kind, listKind: `${kind}List` },
      versions: [
        {
          name: CRD_VERSION,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
        },
      ],
    },
  });
  if (res.status !== 201 && res.status !== 409) {
    const error = apiErrorOf(res.status, res.body);
    throw new ApiError(error.status, `creating a CRD for ${gr.resource}.${gr.group}: ${error.message}`, error.reason);
  }
  await poll(
    async () => {
      const list = await api.request('GET', `/apis/${gr.group}/${CRD_VERSION}`);
      if (list.status !== 200) return undefined;
      const { resources = [] } = JSON.parse(list.body) as { resources?: Array<{ name: string }> };
      return resources.some((r) => r.name === gr.resource) ? true : undefined;
    },
    { timeoutMs, intervalMs: 250, what: `the apiserver to serve ${gr.resource}.${gr.group}` },
  );
}

/** kindFor makes a Kind from a plural: `widgets` → `Widget`. */
export function kindFor(plural: string): string {
  const singular = plural.length > 2 && plural.endsWith('s') && !plural.endsWith('ss') ? plural.slice(0, -1) : plural;
  return singular[0]!.toUpperCase() + singular.slice(1);
}
