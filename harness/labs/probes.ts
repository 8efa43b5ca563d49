import { KmsControlClient } from '../../fake-kms/index.js';
import { ApiHttp } from '../kube/api-http.js';

/**
 * Probes answer "is this lab component up?" from what a lab records (URLs, sockets, credentials): a value when it is,
 * undefined (or a thrown reason) when not. The local backend waits on them while it starts members, and
 * `kmslab restart` and `status` use them on a lab some other process started.
 */
export const probes = {
  kms: (controlSocket: string) => async (): Promise<true> => {
    await new KmsControlClient(controlSocket, 5_000).status();
    return true;
  },

  etcd: (url: string) => async (): Promise<true | undefined> => {
    const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(5_000) });
    const body = (await res.json()) as { health?: string };
    return body.health === 'true' ? true : undefined;
  },

  /** apiserver: an authenticated GET of `path` (/readyz needs a healthy KMS; /livez does not) answers 200. */
  apiserver:
    (http: () => Promise<ApiHttp>, path: '/readyz' | '/livez' = '/readyz') =>
    async (): Promise<true> => {
      const res = await (await http()).request('GET', path, undefined, 5_000);
      if (res.status === 200) return true;
      throw new Error(`${path} answered ${res.status}: ${res.body.slice(0, 300).replaceAll('\n', ' ')}`);
    },
};
