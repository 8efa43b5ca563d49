import { Agent, request } from 'node:https';

/** ApiEndpoint is how to reach and authenticate to an apiserver: a bearer token, or a client certificate (kind). */
export interface ApiEndpoint {
  server: string;
  caPem: string;
  token?: string;
  certPem?: string;
  keyPem?: string;
}

export interface ApiResponse {
  status: number;
  body: string;
}

/**
 * ApiHttp makes raw HTTPS calls to a kube-apiserver with the lab's token and CA: health checks, metrics and
 * any request whose exact status and body text matter (the typed client hides those).
 */
export class ApiHttp {
  private readonly agent: Agent;

  constructor(readonly endpoint: ApiEndpoint) {
    this.agent = new Agent({
      keepAlive: true,
      ca: endpoint.caPem,
      maxSockets: 16,
      ...(endpoint.certPem && endpoint.keyPem ? { cert: endpoint.certPem, key: endpoint.keyPem } : {}),
    });
  }

  request(
    method: string,
    path: string,
    body?: unknown,
    timeoutMs = 30_000,
    as?: { user: string; groups?: string[] },
  ): Promise<ApiResponse> {
    const url = new URL(path, this.endpoint.server);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          agent: this.agent,
          timeout: timeoutMs,
          headers: {
            ...(this.endpoint.token ? { authorization: `Bearer ${this.endpoint.token}` } : {}),
            accept: 'application/json, text/plain',
            ...(as ? { 'impersonate-user': as.user } : {}),
            ...(as?.groups?.length ? { 'impersonate-group': as.groups } : {}),
            ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out after ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  get = (path: string) => this.request('GET', path);

  close(): void {
    this.agent.destroy();
  }
}
