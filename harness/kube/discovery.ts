import type { LabApi } from '../lab.js';
import { apiErrorOf, type ServedResource } from './rest-objects.js';

interface ResourceList {
  resources?: Array<{ name: string; kind: string; namespaced: boolean; verbs?: string[] }>;
}

interface GroupList {
  groups?: Array<{ name: string; versions: Array<{ version: string }>; preferredVersion?: { version: string } }>;
}

/** What discovery found: the resources served in the asked groups, and groups it could not read (with why). */
export interface Discovery {
  served: ServedResource[];
  unreadable: Array<{ group: string; why: string }>;
}

/**
 * discover asks the apiserver what it serves in the given groups ('' is core; `all` every group): each resource once,
 * in its preferred version when it has one there, else the first version that serves it. Subresources are left out.
 */
export async function discover(api: LabApi, groups: ReadonlySet<string> | 'all'): Promise<Discovery> {
  const wanted = (g: string) => groups === 'all' || groups.has(g);
  const served: ServedResource[] = [];
  const unreadable: Discovery['unreadable'] = [];
  // A CRD's group has a dot in it: groups without one (core, apps, batch…) are built in.
  const mayBeCustom = groups === 'all' || [...groups].some((g) => g.includes('.'));
  const custom = mayBeCustom ? await customResources(api) : new Set<string>();
  const add = (group: string, version: string, list: ResourceList) => {
    for (const r of list.resources ?? []) {
      if (r.name.includes('/') || served.some((s) => s.group === group && s.resource === r.name)) continue;
      served.push({
        group,
        version,
        resource: r.name,
        kind: r.kind,
        namespaced: r.namespaced,
        verbs: r.verbs ?? [],
        custom: custom.has(`${r.name}.${group}`),
      });
    }
  };
  if (wanted('')) add('', 'v1', await get<ResourceList>(api, '/api/v1'));
  const { groups: all = [] } = await get<GroupList>(api, '/apis');
  for (const g of all.filter((x) => wanted(x.name))) {
    const preferred = g.preferredVersion?.version;
    const versions = [...g.versions.map((v) => v.version)].sort((a, b) =>
      a === preferred ? -1 : b === preferred ? 1 : 0,
    );
    for (const version of versions) {
      try {
        add(g.name, version, await get<ResourceList>(api, `/apis/${g.name}/${version}`));
      } catch (error) {
        unreadable.push({ group: `${g.name}/${version}`, why: (error as Error).message });
      }
    }
  }
  return { served, unreadable };
}

/** customResources names every resource a CustomResourceDefinition serves, as `plural.group`. */
async function customResources(api: LabApi): Promise<Set<string>> {
  const list = await get<{ items?: Array<{ spec: { group: string; names: { plural: string } } }> }>(
    api,
    '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
  );
  return new Set((list.items ?? []).map((c) => `${c.spec.names.plural}.${c.spec.group}`));
}

async function get<T>(api: LabApi, path: string): Promise<T> {
  const res = await api.request('GET', path);
  if (res.status !== 200) throw apiErrorOf(res.status, res.body);
  return JSON.parse(res.body) as T;
}
