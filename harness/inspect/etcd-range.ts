import * as grpc from '@grpc/grpc-js';
import { decodeRangeResponse, encodeRangeRequest, type RangeRequest, type RangeResponse } from './range-codec.js';
import type { RangeSource } from './etcd-scan.js';

/** EtcdTls is how to trust an https etcd, and the client certificate it may require (kubeadm's, in kind). */
export interface EtcdTls {
  caPem: Buffer;
  certPem?: Buffer;
  keyPem?: Buffer;
  /** Name to verify the server certificate against when the URL holds an IP (TLS refuses an IP as server name). */
  serverName?: string;
}

// Room for pages of large objects (a Secret can approach 1.5 MiB); pages shrink when even this is exceeded.
export const MAX_MESSAGE_BYTES = 32 * 1024 * 1024;

const RANGE = '/etcdserverpb.KV/Range';
// Codes after which another endpoint may answer where this one did not.
const FAILOVER = new Set([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]);

/**
 * EtcdRange reads etcd with one RPC, KV/Range, straight over grpc-js: the response arrives as a buffer and is
 * decoded by `range-codec.ts` into views of that buffer. It is the inspector's read path; the etcd3 client
 * (`openEtcd`) stays for everything else. With several URLs, a call that finds an endpoint unavailable is retried
 * on the next one, and the one that answered is kept.
 */
export class EtcdRange implements RangeSource {
  private readonly clients: grpc.Client[];
  private current = 0;

  constructor(
    urls: string | string[],
    tls?: EtcdTls,
    /** Deadline of each call, ms. */
    private readonly timeoutMs = 30_000,
  ) {
    const list = (Array.isArray(urls) ? urls : [urls]).filter(Boolean);
    if (list.length === 0) throw new Error('EtcdRange needs at least one etcd URL');
    const credentials = tls
      ? grpc.credentials.createSsl(tls.caPem, tls.keyPem ?? null, tls.certPem ?? null)
      : grpc.credentials.createInsecure();
    this.clients = list.map(
      (url) =>
        new grpc.Client(address(url), credentials, {
          'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
          // A page streams in without waiting for window updates (HTTP/2's default window is 64 KiB).
          'grpc-node.flow_control_window': MAX_MESSAGE_BYTES,
          ...(tls?.serverName ? { 'grpc.ssl_target_name_override': tls.serverName } : {}),
        }),
    );
  }

  /** range runs one RangeRequest, failing over to the next endpoint when one is unavailable. */
  async range(request: RangeRequest): Promise<RangeResponse> {
    const payload = encodeRangeRequest(request);
    for (let tried = 1; ; tried++) {
      const i = this.current;
      try {
        return decodeRangeResponse(await this.call(this.clients[i]!, payload));
      } catch (error) {
        const code = (error as grpc.ServiceError).code;
        if (!FAILOVER.has(code) || tried >= this.clients.length) throw error;
        this.current = (i + 1) % this.clients.length;
      }
    }
  }

  private call(client: grpc.Client, payload: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      client.makeUnaryRequest<Buffer, Buffer>(
        RANGE,
        (b) => b,
        // Pass-through: the codec reads the bytes grpc-js already holds.
        (b) => b,
        payload,
        { deadline: Date.now() + this.timeoutMs },
        (error, value) => (error ? reject(error) : resolve(value!)),
      );
    });
  }

  close(): void {
    for (const c of this.clients) c.close();
  }
}

// grpc-js wants host:port; etcd URLs carry a scheme, whose TLS half is in the credentials.
function address(url: string): string {
  const parsed = new URL(url);
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new Error(`etcd URL ${url} is not http(s)://host:port`);
  return parsed.host;
}
