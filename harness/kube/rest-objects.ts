import { ApiError, type LabApi } from '../lab.js';

/** ServedResource is a resource the apiserver serves, as discovery describes it. */
export interface ServedResource {
  group: string;
  version: string;
  /** The plural, e.g. `configmaps`. */
  resource: string;
  kind: string;
  namespaced: boolean;
  verbs: string[];
  /** Served by a CustomResourceDefinition (stored under `/registry/<group>/<plural>/`). */
  custom: boolean;
}

/** KubeObject is any Kubernetes object as JSON. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion?: string;
    annotations?: Record<string, string>;
    [field: string]: unknown;
  };
  [field: string]: unknown;
}

const CONFLICT_RETRIES = 5;

/**
 * RestObjects reads and writes objects of any served resource through the lab's raw API calls: what the typed
 * Secret calls do, for ConfigMaps, Deployments, custom resources… Failures throw ApiError with the apiserver's
 * message (a KMS error reads as it does for Secrets).
 */
export class RestObjects {
  constructor(private readonly api: LabApi) {}

  /** list returns every object of the resource in every namespace, in pages of 500. */
  async list(r: ServedResource): Promise<KubeObject[]> {
    const items: KubeObject[] = [];
    let cont = '';
    do {
      const page = (await this.call(
        'GET',
        `${pathOf(r)}?limit=500${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`,
      )) as {
        items?: KubeObject[];
        metadata?: { continue?: string };
      };
      for (const item of page.items ?? []) items.push({ apiVersion: apiVersionOf(r), kind: r.kind, ...item });
      cont = page.metadata?.continue ?? '';
    } while (cont);
    return items;
  }

  /** get is a plain GET without resourceVersion: the apiserver reads etcd and decrypts. */
  async get(r: ServedResource, namespace: string | undefined, name: string): Promise<KubeObject> {
    return (await this.call('GET', pathOf(r, namespace, name))) as KubeObject;
  }

  async create(r: ServedResource, object: KubeObject): Promise<KubeObject> {
    const body = { apiVersion: apiVersionOf(r), kind: r.kind, ...object };
    return (await this.call('POST', pathOf(r, object.metadata.namespace), body)) as KubeObject;
  }

  /**
   * rewrite PUTs an object back unchanged, as `kubectl get -o json | kubectl replace -f -` does in a migration: the
   * apiserver re-encrypts it when its stored form is stale. Someone else's update in between (409) means a fresh
   * read and another PUT. Returns whether the stored object changed (a new resourceVersion).
   */
  async rewrite(r: ServedResource, object: KubeObject): Promise<boolean> {
    let current = object;
    for (let attempt = 1; ; attempt++) {
      try {
        const after = (await this.call('PUT', pathOf(r, current.metadata.namespace, current.metadata.name), {
          apiVersion: apiVersionOf(r),
          kind: r.kind,
          ...current,
        })) as KubeObject;
        return after.metadata.resourceVersion !== object.metadata.resourceVersion;
      } catch (error) {
        if (!(error instanceof ApiError && error.status === 409) || attempt >= CONFLICT_RETRIES) throw error;
        current = await this.get(r, current.metadata.namespace, current.metadata.name);
      }
    }
  }

  private async call(method: string, path: string, body?: unknown): Promise<unknown> {
    const res = await this.api.request(method, path, body);
    if (res.status >= 200 && res.status < 300) return JSON.parse(res.body) as unknown;
    throw apiErrorOf(res.status, res.body);
  }
}

/** pathOf is the REST path of a resource's collection (all namespaces when namespace is absent) or of one object. */
export function pathOf(r: ServedResource, namespace?: string, name?: string): string {
  const base = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  const ns = r.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${base}${ns}/${r.resource}${name === undefined ? '' : `/${encodeURIComponent(name)}`}`;
}

export const apiVersionOf = (r: Pick<ServedResource, 'group' | 'version'>) =>
  r.group ? `${r.group}/${r.version}` : r.version;

/** apiErrorOf keeps what the apiserver said: its Status message (e.g. the KMS error) and reason. */
export function apiErrorOf(status: number, body: string): ApiError {
  try {
    const s = JSON.parse(body) as { message?: string; reason?: string };
    if (typeof s.message === 'string') return new ApiError(status, s.message, s.reason);
  } catch {
    // not a Status object
  }
  return new ApiError(status, body.trim().slice(0, 500) || `HTTP ${status}`);
}
