import { Etcd3, type IRangeResponse } from 'etcd3';

export interface EtcdEntry {
  key: string;
  value: Buffer;
  modRevision: string;
}

/** EtcdPage is one range response: its entries and the revision the whole scan reads at. */
export interface EtcdPage {
  revision: string;
  entries: EtcdEntry[];
}

export interface ScanOptions {
  /** Keys per range request. Default 1000; halved automatically when a page is too large for one message. */
  pageSize?: number;
  /** Read at this revision (default: the revision of the first page, so the scan is one consistent snapshot). */
  revision?: string;
}

// Room for pages of large objects (a Secret can approach 1.5 MiB); pages shrink when even this is exceeded.
export const MAX_MESSAGE_BYTES = 32 * 1024 * 1024;

/** EtcdTls is how to trust an https etcd, and the client certificate it may require (kubeadm's, in kind). */
export interface EtcdTls {
  caPem: Buffer;
  certPem?: Buffer;
  keyPem?: Buffer;
  /** Name to verify the server certificate against when the URL holds an IP (TLS refuses an IP as server name). */
  serverName?: string;
}

/**
 * openEtcd connects to etcd client URLs (plain http, or https with a CA and optionally a client certificate) with
 * room for large pages. Every call has a deadline (`timeoutMs`, default 30 s): an endpoint that accepts and never
 * answers fails the call instead of hanging it.
 */
export function openEtcd(urls: string | string[], tls?: EtcdTls, timeoutMs = 30_000): Etcd3 {
  return new Etcd3({
    hosts: urls,
    dialTimeout: Math.min(timeoutMs, 10_000),
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + timeoutMs }),
    grpcOptions: {
      'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
      ...(tls?.serverName ? { 'grpc.ssl_target_name_override': tls.serverName } : {}),
    },
    ...(tls
      ? {
          credentials: {
            rootCertificate: tls.caPem,
            ...(tls.certPem ? { certChain: tls.certPem } : {}),
            ...(tls.keyPem ? { privateKey: tls.keyPem } : {}),
          },
        }
      : {}),
  });
}

/**
 * scanPrefix reads every key under a prefix in pages (never one giant range: a single response over the gRPC
 * message limit is refused), all at one revision so the scan is a consistent snapshot.
 */
export async function* scanPrefix(client: Etcd3, prefix: string, options: ScanOptions = {}): AsyncGenerator<EtcdPage> {
  let pageSize = options.pageSize ?? 1000;
  let revision = options.revision;
  const end = prefixEnd(Buffer.from(prefix));
  const fetch = async (start: Buffer): Promise<IRangeResponse> => {
    for (;;) {
      try {
        return await client.kv.range({
          key: start,
          range_end: end,
          limit: pageSize,
          ...(revision ? { revision } : {}),
        });
      } catch (error) {
        if (
          pageSize > 1 &&
          /RESOURCE_EXHAUSTED|larger than max|message length/i.test(String((error as Error).message))
        ) {
          pageSize = Math.max(1, Math.floor(pageSize / 2));
          continue;
        }
        throw error;
      }
    }
  };
  let res = await fetch(Buffer.from(prefix));
  revision ??= res.header.revision;
  for (;;) {
    const last = res.kvs[res.kvs.length - 1];
    // Ask for the next page before handing this one out, so etcd works while the caller classifies.
    const next = res.more && last ? fetch(Buffer.concat([last.key, Buffer.of(0)])) : undefined;
    next?.catch(() => undefined);
    if (res.kvs.length > 0) {
      yield {
        revision,
        entries: res.kvs.map((kv) => ({ key: kv.key.toString('utf8'), value: kv.value, modRevision: kv.mod_revision })),
      };
    }
    if (!next) return;
    res = await next;
  }
}

/** prefixEnd is the smallest key after every key with this prefix (etcd's range_end for a prefix). */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.of(0);
}
