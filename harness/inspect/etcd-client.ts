import { Etcd3 } from 'etcd3';
import { MAX_MESSAGE_BYTES, type EtcdTls } from './etcd-range.js';
import type { RangeSource } from './etcd-scan.js';

/**
 * openEtcd connects to etcd client URLs (plain http, or https with a CA and optionally a client certificate) with
 * room for large pages. Every call has a deadline (`timeoutMs`, default 30 s): an endpoint that accepts and never
 * answers fails the call instead of hanging it. Scans are faster through `EtcdRange`; this client serves the rest.
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

/** etcd3Range reads ranges through an etcd3 client, for callers that already hold one (labs' raw etcd access). */
export function etcd3Range(client: Etcd3): RangeSource {
  return {
    async range(r) {
      const res = await client.kv.range({
        key: Buffer.from(r.key),
        range_end: Buffer.from(r.rangeEnd),
        limit: r.limit,
        ...(r.revision > 0n ? { revision: String(r.revision) } : {}),
      });
      return {
        revision: BigInt(res.header.revision),
        more: res.more,
        count: Number(res.count),
        kvs: res.kvs.map((kv) => ({ key: kv.key, value: kv.value, modRevision: String(kv.mod_revision) })),
      };
    },
  };
}
