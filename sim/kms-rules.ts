import type { EncryptedObject } from '../gen/storage/v2/encrypted_object.js';

/**
 * The rules kube-apiserver enforces on what a KMS v2 plugin returns and on what it reads back from etcd
 * (k8s.io/apiserver `kmsv2/envelope.go`: ValidateKeyID, validateEncryptedDEKSource, validateAnnotations,
 * ValidateEncryptedObject; annotation keys use apimachinery's IsFullyQualifiedDomainName). Each check returns the
 * problem in the apiserver's own terms, or undefined. Used by the sim apiserver, the etcd classifier and conformance.
 */
export const KMS_V2_LIMITS = { keyIdBytes: 1024, encryptedDEKSourceBytes: 1024, annotationsBytes: 32 * 1024 };

const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function keyIdProblem(keyId: string): string | undefined {
  const bytes = Buffer.byteLength(keyId);
  if (bytes === 0) return 'keyID is empty';
  if (bytes > KMS_V2_LIMITS.keyIdBytes)
    return `keyID is ${bytes} bytes, which exceeds the max size of ${KMS_V2_LIMITS.keyIdBytes}`;
  return undefined;
}

export function encryptedDEKSourceProblem(source: Uint8Array): string | undefined {
  if (source.length === 0) return 'encrypted DEK source is empty';
  if (source.length > KMS_V2_LIMITS.encryptedDEKSourceBytes) {
    return `encrypted DEK source is ${source.length} bytes, which exceeds the max size of ${KMS_V2_LIMITS.encryptedDEKSourceBytes}`;
  }
  return undefined;
}

/** fqdnProblem: a lower-case RFC 1123 subdomain of at least two labels, a trailing dot allowed. */
export function fqdnProblem(name: string): string | undefined {
  if (name.length === 0) return 'annotation key is empty';
  const bare = name.endsWith('.') ? name.slice(0, -1) : name;
  if (Buffer.byteLength(bare) > 253 || !SUBDOMAIN.test(bare)) {
    return `annotation key ${JSON.stringify(name)} is not a lower-case RFC 1123 subdomain`;
  }
  const labels = bare.split('.');
  if (labels.length < 2) {
    return `annotation key ${JSON.stringify(name)} should be a domain with at least two segments separated by dots`;
  }
  const bad = labels.find((l) => l.length > 63 || !LABEL.test(l));
  return bad === undefined ? undefined : `annotation key ${JSON.stringify(name)} has a label longer than 63 characters`;
}

export function annotationsProblem(annotations: Record<string, Uint8Array>): string | undefined {
  let total = 0;
  const problems: string[] = [];
  for (const [k, v] of Object.entries(annotations)) {
    const p = fqdnProblem(k);
    if (p) problems.push(p);
    total += Buffer.byteLength(k) + v.length;
  }
  if (total > KMS_V2_LIMITS.annotationsBytes) {
    problems.push(
      `total size of annotations is ${total}, which exceeds the max size of ${KMS_V2_LIMITS.annotationsBytes}`,
    );
  }
  return problems.length ? problems.join('; ') : undefined;
}

// encryptedData must hold what the read path slices off before AES-GCM: info (KDF mode only), nonce and tag.
const MIN_DATA = { 0: 12 + 16, 1: 32 + 12 + 16 } as Record<number, number>;

/** encryptedObjectProblem: what the apiserver refuses when it reads this EncryptedObject back from etcd. */
export function encryptedObjectProblem(o: EncryptedObject): string | undefined {
  const type = o.encryptedDEKSourceType as number;
  if (type !== 0 && type !== 1) return `unknown encryptedDEKSourceType: ${type}`;
  if (o.encryptedData.length === 0) return 'encrypted data is empty';
  const source = encryptedDEKSourceProblem(o.encryptedDEKSource);
  if (source) return `failed to validate encrypted DEK source: ${source}`;
  const keyId = keyIdProblem(o.keyID);
  if (keyId) return `failed to validate key id: ${keyId}`;
  const annotations = annotationsProblem(o.annotations);
  if (annotations) return `failed to validate annotations: ${annotations}`;
  if (o.encryptedData.length < MIN_DATA[type]!) {
    return `encrypted data is ${o.encryptedData.length} bytes, shorter than the ${MIN_DATA[type]} its DEK source type needs`;
  }
  return undefined;
}
