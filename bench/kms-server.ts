// Child process for bench/fake-kms.ts: serves KMS v2 on a socket, either as kmslab's fake KMS (keyring,
// faults, audit trail to a file) or as a bare grpc-js server doing the same AES-256-GCM and nothing else.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { KeyManagementServiceService, type KeyManagementServiceServer } from '../gen/kms/v2/service.js';
import { startFakeKms } from '../fake-kms/index.js';

const [mode, socket, dir] = process.argv.slice(2) as ['fake' | 'bare', string, string];

if (mode === 'fake') {
  await startFakeKms({ socketPath: socket, stateDir: join(dir, 'state'), auditFile: join(dir, 'audit.jsonl') });
} else {
  const key = randomBytes(32);
  const keyId = 'bare-v1';
  const server = new Server();
  const impl: KeyManagementServiceServer = {
    status: (_call, cb) => cb(null, { version: 'v2', healthz: 'ok', keyId }),
    encrypt: (call, cb) => {
      const nonce = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', key, nonce);
      c.setAAD(Buffer.from(keyId));
      const body = Buffer.concat([c.update(call.request.plaintext), c.final()]);
      cb(null, { ciphertext: Buffer.concat([nonce, body, c.getAuthTag()]), keyId, annotations: {} });
    },
    decrypt: (call, cb) => {
      const ct = call.request.ciphertext;
      const d = createDecipheriv('aes-256-gcm', key, ct.subarray(0, 12));
      d.setAAD(Buffer.from(call.request.keyId));
      d.setAuthTag(ct.subarray(ct.length - 16));
      cb(null, { plaintext: Buffer.concat([d.update(ct.subarray(12, ct.length - 16)), d.final()]) });
    },
  };
  server.addService(KeyManagementServiceService, impl);
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix://${socket}`, ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())),
  );
}
process.send?.('ready');
