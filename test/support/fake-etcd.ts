import { createRequire } from 'node:module';
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';

// etcd's KV/Range, served from memory by an independent coder (protobufjs over the .proto files the etcd3 package
// ships): enough of etcd for the inspector's CLI — keys no apiserver would write, TLS — without starting etcd.
const protoDir = join(dirname(createRequire(import.meta.url).resolve('etcd3/package.json')), 'proto');
const root = new protobuf.Root();
root.resolvePath = (_origin, target) => join(protoDir, target.replace(/^.*\//, ''));
root.loadSync(['rpc.proto', 'kv.proto'], { keepCase: true });
/** etcd's Range messages as protobufjs reads them: a coder independent of kmslab's own. */
export const RangeRequest = root.lookupType('etcdserverpb.RangeRequest');
export const RangeResponse = root.lookupType('etcdserverpb.RangeResponse');

export interface FakeEtcd {
  url: string;
  close(): Promise<void>;
}

/** fakeEtcd serves these key/value pairs (bytes as given) over KV/Range at one revision, plain or over TLS. */
export async function fakeEtcd(
  entries: Array<{ key: Buffer; value: Buffer }>,
  tls?: { certPem: Buffer; keyPem: Buffer },
): Promise<FakeEtcd> {
  const kvs = [...entries].sort((a, b) => Buffer.compare(a.key, b.key));
  const server = new grpc.Server();
  server.register<Buffer, Buffer>(
    '/etcdserverpb.KV/Range',
    (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      const r = RangeRequest.decode(call.request) as unknown as {
        key: Buffer;
        range_end: Buffer;
        limit: number | { toNumber(): number };
      };
      const end = r.range_end ?? Buffer.alloc(0);
      const all = end.length === 1 && end[0] === 0;
      const inRange = kvs.filter((kv) =>
        end.length === 0
          ? kv.key.equals(r.key)
          : Buffer.compare(kv.key, r.key) >= 0 && (all || Buffer.compare(kv.key, end) < 0),
      );
      const limit = typeof r.limit === 'number' ? r.limit : r.limit.toNumber();
      const page = limit > 0 ? inRange.slice(0, limit) : inRange;
      const message = RangeResponse.fromObject({
        header: { revision: 7 },
        kvs: page.map((kv) => ({ key: kv.key, value: kv.value, mod_revision: 5, create_revision: 5, version: 1 })),
        more: page.length < inRange.length,
        count: inRange.length,
      });
      callback(null, Buffer.from(RangeResponse.encode(message).finish()));
    },
    (b) => b,
    (b) => b,
    'unary',
  );
  const credentials = tls
    ? grpc.ServerCredentials.createSsl(null, [{ cert_chain: tls.certPem, private_key: tls.keyPem }])
    : grpc.ServerCredentials.createInsecure();
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', credentials, (error, p) => (error ? reject(error) : resolve(p))),
  );
  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.tryShutdown(() => resolve())),
  };
}

/** silentEndpoint accepts TCP connections and never answers: the endpoint a dial timeout is for. */
export async function silentEndpoint(): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: NetServer = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
