import { Secret, Unknown } from '../gen/k8s/secret.js';

/**
 * How kube-apiserver serialises a v1 Secret for etcd: the 4-byte magic `k8s\0`, then a runtime.Unknown whose raw
 * bytes are the Secret's protobuf. resourceVersion is not stored (it is the etcd revision).
 */
const MAGIC = Buffer.from('k8s\u0000', 'latin1');

export interface SecretObject {
  namespace: string;
  name: string;
  uid: string;
  /** Milliseconds since the epoch; stored with one-second precision, as the apiserver does. */
  createdAt: number;
  data: Record<string, Buffer>;
  type?: string;
}

export function encodeSecret(s: SecretObject): Buffer {
  const secret = Secret.encode({
    metadata: {
      name: s.name,
      namespace: s.namespace,
      uid: s.uid,
      creationTimestamp: { seconds: Math.floor(s.createdAt / 1000), nanos: 0 },
      labels: {},
      annotations: {},
    },
    data: s.data,
    type: s.type ?? 'Opaque',
    stringData: {},
  }).finish();
  const unknown = Unknown.encode({
    typeMeta: { apiVersion: 'v1', kind: 'Secret' },
    raw: Buffer.from(secret),
    contentEncoding: '',
    contentType: '',
  }).finish();
  return Buffer.concat([MAGIC, unknown]);
}

/** decodeSecret reads a stored (decrypted) Secret; fields kmslab does not model (managedFields, …) are skipped. */
export function decodeSecret(stored: Uint8Array): SecretObject {
  const bytes = Buffer.from(stored);
  if (!bytes.subarray(0, 4).equals(MAGIC))
    throw new Error('not a protobuf-encoded Kubernetes object (no k8s\\0 magic)');
  const unknown = Unknown.decode(bytes.subarray(4));
  if (unknown.typeMeta?.kind !== 'Secret')
    throw new Error(`stored object is a ${unknown.typeMeta?.kind ?? 'nothing'}, not a Secret`);
  const s = Secret.decode(unknown.raw ?? Buffer.alloc(0));
  return {
    namespace: s.metadata?.namespace ?? '',
    name: s.metadata?.name ?? '',
    uid: s.metadata?.uid ?? '',
    createdAt: (s.metadata?.creationTimestamp?.seconds ?? 0) * 1000,
    data: s.data,
    type: s.type ?? 'Opaque',
  };
}
