import { dirname, join } from 'node:path';
import { KmsV1Plugin, type V1Calls } from '../fake-kms/index.js';
import type { EncryptionRule } from './kube/encryption-config.js';
import type { LabKmsV1 } from './lab.js';

/** The provider name a lab's KMS v1 values carry: `k8s:enc:kms:v1:legacy:`. */
export const KMS_V1_PROVIDER = 'legacy';

/** kmsV1Socket is where a lab's KMS v1 plugin listens: beside its v2 plugin's socket, in the lab's private dir. */
export const kmsV1Socket = (v2Socket: string) => join(dirname(v2Socket), 'kms-v1.sock');

/** kmsV1Rules is a lab that starts on KMS v1: Secrets through the v1 plugin, then identity. */
export function kmsV1Rules(v2Socket: string): EncryptionRule[] {
  return [
    {
      resources: ['secrets'],
      providers: [{ kmsV1: { name: KMS_V1_PROVIDER, socket: kmsV1Socket(v2Socket) } }, { identity: {} }],
    },
  ];
}

/** startLabKmsV1 runs the KMS v1 plugin in this process for a lab, which stops it when the lab closes. */
export async function startLabKmsV1(v2Socket: string): Promise<LabKmsV1> {
  const plugin = await KmsV1Plugin.start(kmsV1Socket(v2Socket));
  return {
    socket: plugin.socketPath,
    providerName: KMS_V1_PROVIDER,
    calls: (): V1Calls => ({ ...plugin.calls }),
    stop: () => plugin.close(),
  };
}
