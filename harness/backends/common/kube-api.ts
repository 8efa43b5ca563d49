import {
  ApiException,
  CoreV1Api,
  KubeConfig,
  Observable,
  type ConfigurationOptions,
  type V1Secret,
} from '@kubernetes/client-node';
import { ApiError, type HttpAnswer, type LabApi, type ObjectRef, type StoredSecret } from '../../lab.js';
import type { RawRequestOptions, RequestOptions } from '../../lab.js';
import { ApiHttp, type ApiEndpoint } from '../../kube/api-http.js';
import { kubeconfigYaml } from '../../kube/kubeconfig.js';

/**
 * KubeApi is LabApi on a real apiserver: typed calls through @kubernetes/client-node, raw ones (health, metrics)
 * through ApiHttp. Every failure becomes an ApiError with the apiserver's status and message.
 */
export class KubeApi implements LabApi {
  private readonly core: CoreV1Api;
  private readonly http: ApiHttp;

  constructor(endpoint: ApiEndpoint) {
    const kc = new KubeConfig();
    kc.loadFromString(kubeconfigYaml({ name: 'kmslab', ...endpoint }));
    this.core = kc.makeApiClient(CoreV1Api);
    this.http = new ApiHttp(endpoint);
  }

  async ensureNamespace(name: string): Promise<void> {
    try {
      await this.core.createNamespace({ body: { metadata: { name } } });
    } catch (error) {
      if (!(error instanceof ApiException && error.code === 409)) throw toApiError(error);
    }
  }

  createSecret(ref: ObjectRef, data: Record<string, Buffer | string>, options?: RequestOptions): Promise<StoredSecret> {
    return call(ref, () =>
      this.core.createNamespacedSecret(
        { namespace: ref.namespace, body: { metadata: { name: ref.name }, data: encode(data) } },
        abortable(options),
      ),
    );
  }

  readSecret(ref: ObjectRef, options?: RequestOptions): Promise<StoredSecret> {
    return call(ref, () => this.core.readNamespacedSecret(ref, abortable(options)));
  }

  async updateSecret(
    ref: ObjectRef,
    data?: Record<string, Buffer | string>,
    options?: RequestOptions,
  ): Promise<StoredSecret> {
    return call(ref, async () => {
      const current = await this.core.readNamespacedSecret(ref, abortable(options));
      if (data) current.data = encode(data);
      return this.core.replaceNamespacedSecret({ ...ref, body: current }, abortable(options));
    });
  }

  async deleteSecret(ref: ObjectRef, options?: RequestOptions): Promise<void> {
    await call(ref, () => this.core.deleteNamespacedSecret(ref, abortable(options))).catch((error: unknown) => {
      if (!(error instanceof ApiError && error.status === 404)) throw error;
    });
  }

  async listSecrets(namespace?: string): Promise<ObjectRef[]> {
    const refs: ObjectRef[] = [];
    let cont: string | undefined;
    try {
      do {
        const page = namespace
          ? await this.core.listNamespacedSecret({ namespace, limit: 500, ...(cont ? { _continue: cont } : {}) })
          : await this.core.listSecretForAllNamespaces({ limit: 500, ...(cont ? { _continue: cont } : {}) });
        for (const s of page.items) refs.push({ namespace: s.metadata!.namespace!, name: s.metadata!.name! });
        cont = page.metadata?._continue || undefined;
      } while (cont);
    } catch (error) {
      throw toApiError(error);
    }
    return refs;
  }

  request(method: string, path: string, body?: unknown, options?: RawRequestOptions): Promise<HttpAnswer> {
    return this.http.request(method, path, body, undefined, options?.impersonate);
  }

  close(): void {
    this.http.close();
  }
}

async function call(ref: ObjectRef, fn: () => Promise<V1Secret>): Promise<StoredSecret> {
  try {
    const s = await fn();
    return {
      ref,
      data: Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
      resourceVersion: s.metadata?.resourceVersion ?? '',
    };
  } catch (error) {
    throw toApiError(error);
  }
}

// The client's per-call middleware hands the signal to its fetch: an abort closes the request's connection.
function abortable(options?: RequestOptions): ConfigurationOptions | undefined {
  const signal = options?.signal;
  if (!signal) return undefined;
  return {
    middleware: [
      {
        pre: (context) => {
          context.setSignal(signal);
          return new Observable(Promise.resolve(context));
        },
        post: (response) => new Observable(Promise.resolve(response)),
      },
    ],
    middlewareMergeStrategy: 'append',
  };
}

function encode(data: Record<string, Buffer | string>): Record<string, string> {
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
}

/** toApiError keeps what the apiserver said: the Status message (e.g. the KMS error) and reason. */
export function toApiError(error: unknown): Error {
  if (error instanceof ApiException) {
    let message = String(error.body);
    let reason: string | undefined;
    try {
      const status = (typeof error.body === 'string' ? JSON.parse(error.body) : error.body) as {
        message?: string;
        reason?: string;
      };
      message = status.message ?? message;
      reason = status.reason;
    } catch {
      // body was not a Status object
    }
    return new ApiError(error.code, message, reason);
  }
  if (error instanceof Error) return new ApiError(0, `apiserver unreachable: ${error.message}`);
  return new ApiError(0, String(error));
}
