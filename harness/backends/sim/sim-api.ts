import { SimApiError, type SimApiserver } from '../../../sim/index.js';
import { ApiError, type HttpAnswer, type LabApi, type ObjectRef, type StoredSecret } from '../../lab.js';
import type { RequestOptions } from '../../lab.js';

/** SimApi is LabApi on a modelled apiserver; failures become ApiErrors with the real apiserver's status and text. */
export class SimApi implements LabApi {
  private readonly namespaces = new Set<string>(['default']);

  constructor(private readonly server: SimApiserver) {}

  async ensureNamespace(name: string): Promise<void> {
    this.namespaces.add(name);
  }

  createSecret(ref: ObjectRef, data: Record<string, Buffer | string>, options?: RequestOptions): Promise<StoredSecret> {
    return call(async () => {
      const bytes = toBuffers(data);
      return { ref, data: bytes, resourceVersion: await this.server.create(ref.namespace, ref.name, bytes) };
    }, options);
  }

  readSecret(ref: ObjectRef, options?: RequestOptions): Promise<StoredSecret> {
    return call(async () => ({ ref, ...(await this.server.get(ref.namespace, ref.name)) }), options);
  }

  updateSecret(
    ref: ObjectRef,
    data?: Record<string, Buffer | string>,
    options?: RequestOptions,
  ): Promise<StoredSecret> {
    return call(async () => {
      const resourceVersion = await this.server.update(ref.namespace, ref.name, data && toBuffers(data));
      return { ref, data: (await this.server.get(ref.namespace, ref.name)).data, resourceVersion };
    }, options);
  }

  async deleteSecret(ref: ObjectRef, options?: RequestOptions): Promise<void> {
    await call(() => this.server.delete(ref.namespace, ref.name), options).catch((error: unknown) => {
      if (!(error instanceof ApiError && error.status === 404)) throw error;
    });
  }

  listSecrets(namespace?: string): Promise<ObjectRef[]> {
    return call(async () => this.server.list(namespace));
  }

  request(method: string, path: string): Promise<HttpAnswer> {
    return call(async () => {
      if (method !== 'GET') return { status: 405, body: `the sim answers only GET for ${path}` };
      if (path === '/metrics') return { status: 200, body: this.server.metrics() };
      if (/^\/(livez|readyz|healthz)(\/|\?|$)/.test(path)) return this.server.health(path);
      return { status: 404, body: `the sim does not model ${path}` };
    });
  }
}

// An aborted call stops waiting at once, as a closed connection would; the modelled request runs on regardless, so
// a write may still land afterwards (as on a real apiserver).
async function call<T>(fn: () => Promise<T>, options?: RequestOptions): Promise<T> {
  const signal = options?.signal;
  try {
    if (!signal) return await fn();
    if (signal.aborted) throw new ApiError(0, 'the request was aborted');
    let onAbort = () => undefined as void;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(new ApiError(0, 'the request was aborted'));
      signal.addEventListener('abort', onAbort, { once: true });
    });
    return await Promise.race([fn(), aborted]).finally(() => signal.removeEventListener('abort', onAbort));
  } catch (error) {
    if (error instanceof SimApiError) throw new ApiError(error.status, error.message, error.reason);
    throw error;
  }
}

function toBuffers(data: Record<string, Buffer | string>): Record<string, Buffer> {
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v)]));
}
