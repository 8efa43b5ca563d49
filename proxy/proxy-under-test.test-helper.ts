// The proxy as the proxy tests start it: in `dir`, in front of `upstreamSocket`, with an audit file, a gRPC client
// playing the apiserver and a control client.
import { join } from 'node:path';
import { KmsControlClient } from '../fake-kms/index.js';
import { kmsClient } from '../test/support/kms-client.js';
import { KmsProxy } from './kms-proxy.js';

export async function startProxyUnderTest(dir: string, upstreamSocket: string) {
  const proxy = await KmsProxy.start({
    socketPath: join(dir, 'proxy', 'kms.sock'),
    upstreamSocket,
    controlSocketPath: join(dir, 'proxy', 'control.sock'),
    auditFile: join(dir, 'audit.jsonl'),
  });
  return {
    proxy,
    grpc: kmsClient(proxy.socketPath),
    control: new KmsControlClient(join(dir, 'proxy', 'control.sock')),
  };
}
