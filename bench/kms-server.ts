// Child process for bench/fake-kms.ts: serves KMS v2 on a socket as one of
//   fake   kmslab's fake KMS (keyring, faults, audit trail to a file, group commit);
//   bare   a bare grpc-js server doing the same AES-256-GCM, answering as the fake does, and nothing else (the
//          baseline);
//   proxy  kmslab's KMS proxy (faults, audit trail to a file) forwarding to a plugin at `upstream`;
//   hop    a bare grpc-js forwarder to `upstream`: the least a forwarding hop in grpc-js costs (the proxy's baseline).
// It answers the parent's 'cpu' message with its CPU time so far, so the bench can report server CPU per call.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { credentials, Metadata, Server, ServerCredentials, type ServiceError } from '@grpc/grpc-js';
import {
  KeyManagementServiceClient,
  KeyManagementServiceService,
  type KeyManagementServiceServer,
} from '../gen/kms/v2/service.js';
import { existsSync } from 'node:fs';

// The fake KMS and the proxy run compiled when dist/ exists (`npm run build`), as an installed kmslab runs them.
const dist = new URL('../dist/', import.meta.url);
const compiled = existsSync(new URL('fake-kms/index.js', dist));
const { startFakeKms } = (await import(
  compiled ? new URL('fake-kms/index.js', dist).href : '../fake-kms/index.js'
)) as typeof import('../fake-kms/index.js');
const { KmsProxy } = (await import(
  compiled ? new URL('proxy/index.js', dist).href : '../proxy/index.js'
)) as typeof import('../proxy/index.js');

const [mode, socket, dir, upstream] = process.argv.slice(2) as [
  'fake' | 'bare' | 'proxy' | 'hop',
  string,
  string,
  string?,
];

async function serve(impl: KeyManagementServiceServer): Promise<void> {
  const server = new Server();
  server.addService(KeyManagementServiceService, impl);
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix://${socket}`, ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())),
  );
}

if (mode === 'fake') {
  await startFakeKms({ socketPath: socket, stateDir: join(dir, 'state'), auditFile: join(dir, 'audit.jsonl') });
} else if (mode === 'proxy') {
  await KmsProxy.start({ socketPath: socket, upstreamSocket: upstream!, auditFile: join(dir, 'audit.jsonl') });
} else if (mode === 'hop') {
  const client = new KeyManagementServiceClient(`unix://${upstream}`, credentials.createInsecure());
  const deadline = () => ({ deadline: Date.now() + 30_000 });
  const relay =
    <T>(cb: (e: ServiceError | null, r?: T) => void) =>
    (e: ServiceError | null, r?: T) =>
      e ? cb(e) : cb(null, r);
  await serve({
    status: (call, cb) => client.status(call.request, new Metadata(), deadline(), relay(cb)),
    encrypt: (call, cb) => client.encrypt(call.request, new Metadata(), deadline(), relay(cb)),
    decrypt: (call, cb) => client.decrypt(call.request, new Metadata(), deadline(), relay(cb)),
  });
} else {
  const key = randomBytes(32);
  const keyId = 'bare-v1';
  const keyVersion = { 'key-version.kmslab.test': Buffer.from('1') };
  await serve({
    status: (_call, cb) => cb(null, { version: 'v2', healthz: 'ok', keyId }),
    encrypt: (call, cb) => {
      const nonce = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', key, nonce);
      c.setAAD(Buffer.from(keyId));
      const body = Buffer.concat([c.update(call.request.plaintext), c.final()]);
      // The same answer as the fake's: a key-version annotation, as real plugins return, is part of the protocol's
      // work (encoding a map entry), not of kmslab's.
      cb(null, { ciphertext: Buffer.concat([nonce, body, c.getAuthTag()]), keyId, annotations: keyVersion });
    },
    decrypt: (call, cb) => {
      const ct = call.request.ciphertext;
      const d = createDecipheriv('aes-256-gcm', key, ct.subarray(0, 12));
      d.setAAD(Buffer.from(call.request.keyId));
      d.setAuthTag(ct.subarray(ct.length - 16));
      cb(null, { plaintext: Buffer.concat([d.update(ct.subarray(12, ct.length - 16)), d.final()]) });
    },
  });
}
process.on('message', (m) => {
  if (m === 'cpu') {
    const u = process.cpuUsage();
    process.send?.({ cpuMicros: u.user + u.system });
  }
});
process.send?.('ready');
// A clean exit on SIGINT (profilers write their output then); the bench itself ends servers with SIGKILL.
process.on('SIGINT', () => process.exit(0));
