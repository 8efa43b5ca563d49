/** ClusterApi is how verify talks to a cluster: raw calls whose status and body it reads itself. */
export interface ClusterApi {
  request(method: string, path: string, body?: unknown): Promise<{ status: number; body: string }>;
}

/** ClusterUnreadable: the cluster could not be asked at all (unreachable, TLS, credentials): exit 3, not a verdict. */
export class ClusterUnreadable extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ClusterUnreadable';
  }
}

/** getText GETs a path; a transport failure becomes ClusterUnreadable, any HTTP answer is returned as is. */
export async function getText(api: ClusterApi, path: string): Promise<{ status: number; body: string }> {
  try {
    return await api.request('GET', path);
  } catch (error) {
    throw new ClusterUnreadable(`GET ${path}: ${(error as Error).message}`, { cause: error });
  }
}
