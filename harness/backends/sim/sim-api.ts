import { SimApiError, type SimApiserver } from '../../../sim/index.js';
import { ApiError, type HttpAnswer, type LabApi, type ObjectRef, type StoredSecret } from '../../lab.js';

/** SimApi is LabApi on a modelled apiserver; failures become ApiErrors with the real apiserver's status and text. */
export class SimApi implements LabApi {
  private readonly namespaces = new Set<string>(['default']);

  constructor(private readonly server: SimApiserver) {}

  async ensureNamespace(name: string): Promise<void> {
    this.namespaces.add(name);
  }

  createSecret(ref: ObjectRef, data: Record<string, Buffer | string>): Promise<StoredSecret> {
    return call(async () => {
      const bytes = toBuffers(data);
      return { ref, data: bytes, resourceVersion: await this.server.create(ref.namespace, ref.name, bytes) };
    });
  }

  readSecret(ref: ObjectRef): Promise<StoredSecret> {
    return call(async () => ({ ref, ...(await this.server.get(ref.namespace, ref.name)) }));
  }

  updateSecret(ref: ObjectRef, data?: Record<string, Buffer | string>): Promise<StoredSecret> {
    return call(async () => {
      const resourceVersion = await this.server.update(ref.namespace, ref.name, data && toBuffers(data));
      return { ref, data: (await this.server.get(ref.namespace, ref.name)).data, resourceVersion };
    });
  }

  async deleteSecret(ref: ObjectRef): Promise<void> {
    await call(() => this.server.delete(ref.namespace, ref.name)).catch((error: unknown) => {
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

async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof SimApiError) throw new ApiError(error.status, error.message, error.reason);
    throw error;
  }
}

function toBuffers(data: Record<string, Buffer | string>): Record<string, Buffer> {
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v)]));
}
