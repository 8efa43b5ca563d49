import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import {
  Server,
  ServerCredentials,
  status,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import protobuf from 'protobufjs';

// The KMS v1 plugin API (service v1beta1.KeyManagementService), written here from its field list: Version answers
// "v1beta1"; Encrypt wraps `plain`, Decrypt unwraps `cipher`; every request carries the API version string.
const PROTO = `
syntax = "proto3";
package v1beta1;
message VersionRequest { string version = 1; }
message VersionResponse { string version = 1; string runtime_name = 2; string runtime_version = 3; }
message DecryptRequest { string version = 1; bytes cipher = 2; }
message DecryptResponse { bytes plain = 1; }
message EncryptRequest { string version = 1; bytes plain = 2; }
message EncryptResponse { bytes cipher = 1; }
`;
const root = protobuf.parse(PROTO, { keepCase: true }).root;

function method(name: string, request: string, response: string) {
  const req = root.lookupType(`v1beta1.${request}`);
  const res = root.lookupType(`v1beta1.${response}`);
  return {
    path: `/v1beta1.KeyManagementService/${name}`,
    requestStream: false,
    responseStream: false,
    requestSerialize: (v: object) => Buffer.from(req.encode(req.fromObject(v)).finish()),
    requestDeserialize: (b: Buffer) => req.toObject(req.decode(b), { bytes: Buffer }),
    responseSerialize: (v: object) => Buffer.from(res.encode(res.fromObject(v)).finish()),
    responseDeserialize: (b: Buffer) => res.toObject(res.decode(b), { bytes: Buffer }),
  };
}

const SERVICE = {
  Version: method('Version', 'VersionRequest', 'VersionResponse'),
  Decrypt: method('Decrypt', 'DecryptRequest', 'DecryptResponse'),
  Encrypt: method('Encrypt', 'EncryptRequest', 'EncryptResponse'),
} as unknown as ServiceDefinition;

/** V1Calls counts what the plugin answered; the health probe's "ping" is counted apart from DEKs. */
export interface V1Calls {
  version: number;
  encryptDek: number;
  decryptDek: number;
  encryptPing: number;
  decryptPing: number;
}

/**
 * KmsV1Plugin is a minimal KMS v1 plugin (AES-256-GCM under one key, nonce ‖ ciphertext ‖ tag), counting its
 * calls. kmslab's fake KMS speaks v2 only; this one serves labs that start on KMS v1 (the kms-v1-migration scenario)
 * and the tests of the v1 call pattern.
 */
export class KmsV1Plugin {
  readonly calls: V1Calls = { version: 0, encryptDek: 0, decryptDek: 0, encryptPing: 0, decryptPing: 0 };
  private readonly key = randomBytes(32);
  private readonly server = new Server();

  private constructor(readonly socketPath: string) {}

  static async start(socketPath: string): Promise<KmsV1Plugin> {
    const plugin = new KmsV1Plugin(socketPath);
    await rm(socketPath, { force: true });
    plugin.server.addService(SERVICE, plugin.handlers());
    await new Promise<void>((resolve, reject) =>
      plugin.server.bindAsync(`unix://${socketPath}`, ServerCredentials.createInsecure(), (e) =>
        e ? reject(e) : resolve(),
      ),
    );
    return plugin;
  }

  private handlers(): UntypedServiceImplementation {
    type Call<T> = { request: T };
    type Done = (error: { code: number; details: string } | null, value?: object) => void;
    const isPing = (b: Buffer) => b.toString() === 'ping';
    return {
      Version: (_call: Call<unknown>, done: Done) => {
        this.calls.version++;
        done(null, { version: 'v1beta1', runtime_name: 'kmslab-test-v1', runtime_version: '0.1.0' });
      },
      Encrypt: (call: Call<{ plain: Buffer }>, done: Done) => {
        const plain = call.request.plain;
        if (isPing(plain)) this.calls.encryptPing++;
        else this.calls.encryptDek++;
        const nonce = randomBytes(12);
        const c = createCipheriv('aes-256-gcm', this.key, nonce);
        done(null, { cipher: Buffer.concat([nonce, c.update(plain), c.final(), c.getAuthTag()]) });
      },
      Decrypt: (call: Call<{ cipher: Buffer }>, done: Done) => {
        const b = call.request.cipher;
        try {
          const d = createDecipheriv('aes-256-gcm', this.key, b.subarray(0, 12));
          d.setAuthTag(b.subarray(b.length - 16));
          const plain = Buffer.concat([d.update(b.subarray(12, b.length - 16)), d.final()]);
          if (isPing(plain)) this.calls.decryptPing++;
          else this.calls.decryptDek++;
          done(null, { plain });
        } catch {
          done({ code: status.INVALID_ARGUMENT, details: 'ciphertext does not authenticate' });
        }
      },
    };
  }

  async close(): Promise<void> {
    this.server.forceShutdown();
    await rm(this.socketPath, { force: true });
  }
}
