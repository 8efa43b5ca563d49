import { credentials, Metadata } from '@grpc/grpc-js';
import { KeyManagementServiceClient } from '../../gen/kms/v2/service.js';
import type {
  DecryptRequest,
  DecryptResponse,
  EncryptRequest,
  EncryptResponse,
  StatusResponse,
} from '../../gen/kms/v2/service.js';

/** A real gRPC client on the plugin's socket, as the apiserver dials it; promise-shaped for tests. */
export function kmsClient(socketPath: string) {
  const client = new KeyManagementServiceClient(`unix://${socketPath}`, credentials.createInsecure());
  const deadline = () => ({ deadline: Date.now() + 5_000 });
  return {
    status: () =>
      new Promise<StatusResponse>((res, rej) =>
        client.status({}, new Metadata(), deadline(), (e, r) => (e ? rej(e) : res(r))),
      ),
    encrypt: (req: EncryptRequest) =>
      new Promise<EncryptResponse>((res, rej) =>
        client.encrypt(req, new Metadata(), deadline(), (e, r) => (e ? rej(e) : res(r))),
      ),
    decrypt: (req: DecryptRequest) =>
      new Promise<DecryptResponse>((res, rej) =>
        client.decrypt(req, new Metadata(), deadline(), (e, r) => (e ? rej(e) : res(r))),
      ),
    close: () => client.close(),
  };
}
