import { checkServerIdentity } from 'node:tls';
import { isIP } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { formatDuration } from '../common/duration.js';
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

// The TLS server name grpc-js sends when the URL holds an IP and no name was given. grpc-js would send the IP itself,
// which RFC 6066 forbids (Node warns: DEP0123); `.invalid` is reserved never to name a host (RFC 2606). The
// certificate is still verified against the IP, as etcdctl does.
const NO_SERVER_NAME = 'ip-address.invalid';

/**
 * EtcdRange reads etcd with one RPC, KV/Range, straight over grpc-js: the response arrives as a buffer and is
 * decoded by `range-codec.ts` into views of that buffer. It is the inspector's read path; the etcd3 client
 * (`openEtcd`) stays for everything else. With several URLs, a call that finds an endpoint unavailable is retried
 * on the next one, and the one that answered is kept.
 */
export class EtcdRange implements RangeSource {
  private readonly clients: grpc.Client[];
  private readonly urls: string[];
  private readonly dialed: boolean[];
  private current = 0;

  constructor(
    urls: string | string[],
    tls?: EtcdTls,
    /** Deadline of each call, ms (default 30 s). */
    private readonly timeoutMs = 30_000,
    /**
     * Deadline, ms, for an endpoint's first connection to be up — TCP, TLS and etcd's first HTTP/2 frame — before
     * the first call on it, as etcdctl's --dial-timeout: an endpoint that accepts and never answers fails then
     * (and the next URL is tried), not at the call's deadline. Default: none (the first call's deadline covers it).
     */
    private readonly dialTimeoutMs?: number,
  ) {
    const list = (Array.isArray(urls) ? urls : [urls]).filter(Boolean);
    if (list.length === 0) throw new Error('EtcdRange needs at least one etcd URL');
    this.urls = list;
    this.dialed = list.map(() => false);
    this.clients = list.map((url) => {
      const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
      const serverName = tls?.serverName ?? (isIP(host) ? NO_SERVER_NAME : undefined);
      return new grpc.Client(address(url), credentialsFor(tls, host), {
        'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
        // A page streams in without waiting for window updates (HTTP/2's default window is 64 KiB).
        'grpc-node.flow_control_window': MAX_MESSAGE_BYTES,
        ...(tls && serverName ? { 'grpc.ssl_target_name_override': serverName } : {}),
      });
    });
  }

  /** range runs one RangeRequest, failing over to the next endpoint when one is unavailable. */
  async range(request: RangeRequest): Promise<RangeResponse> {
    const payload = encodeRangeRequest(request);
    for (let tried = 1; ; tried++) {
      const i = this.current;
      try {
        await this.dial(i);
        return decodeRangeResponse(await this.call(this.clients[i]!, payload));
      } catch (error) {
        const code = (error as grpc.ServiceError).code;
        if (!FAILOVER.has(code) || tried >= this.clients.length) throw error;
        this.current = (i + 1) % this.clients.length;
      }
    }
  }

  // Waits, once per endpoint, until its channel is up. A channel that failed (refused, TLS refused) is left to the
  // call, which then fails at once with grpc-js's own account of why.
  private dial(i: number): Promise<void> {
    const dialMs = this.dialTimeoutMs;
    if (dialMs === undefined || this.dialed[i]) return Promise.resolve();
    const channel = this.clients[i]!.getChannel();
    const deadline = Date.now() + dialMs;
    const { READY, TRANSIENT_FAILURE, SHUTDOWN } = grpc.connectivityState;
    return new Promise((resolve, reject) => {
      const check = () => {
        const state = channel.getConnectivityState(true);
        if (state === READY) this.dialed[i] = true;
        if (state === READY || state === TRANSIENT_FAILURE || state === SHUTDOWN) return resolve();
        channel.watchConnectivityState(state, deadline, (error) => {
          if (!error) return check();
          const late = new Error(
            `etcd at ${this.urls[i]} did not answer within the ${formatDuration(dialMs)} dial timeout (TCP, TLS and its first HTTP/2 frame)`,
          );
          reject(Object.assign(late, { code: grpc.status.UNAVAILABLE }));
        });
      };
      check();
    });
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

// TLS trust for one endpoint. Its certificate is checked against the URL's host even when another name is sent.
function credentialsFor(tls: EtcdTls | undefined, host: string): grpc.ChannelCredentials {
  if (!tls) return grpc.credentials.createInsecure();
  return grpc.credentials.createSsl(tls.caPem, tls.keyPem ?? null, tls.certPem ?? null, {
    checkServerIdentity: (_sent, cert) => checkServerIdentity(tls.serverName ?? host, cert),
  });
}

// grpc-js wants host:port; etcd URLs carry a scheme, whose TLS half is in the credentials.
function address(url: string): string {
  const parsed = new URL(url);
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new Error(`etcd URL ${url} is not http(s)://host:port`);
  return parsed.host;
}
