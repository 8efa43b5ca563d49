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
  return dekSourceBytesProblem(source.length);
}

function dekSourceBytesProblem(bytes: number): string | undefined {
  if (bytes === 0) return 'encrypted DEK source is empty';
  if (bytes > KMS_V2_LIMITS.encryptedDEKSourceBytes) {
    return `encrypted DEK source is ${bytes} bytes, which exceeds the max size of ${KMS_V2_LIMITS.encryptedDEKSourceBytes}`;
  }
  return undefined;
}

/** fqdnProblem: a lower-case RFC 1123 subdomain of at least two labels, a trailing dot allowed. */
export function fqdnProblem(name: string): string | undefined {
  // Remembered: a scan of etcd meets the same few annotation keys in every value.
  if (fqdnSeen.has(name)) return fqdnSeen.get(name);
  const problem = checkFqdn(name);
  if (fqdnSeen.size >= FQDN_SEEN_MAX) fqdnSeen.clear();
  fqdnSeen.set(name, problem);
  return problem;
}

const FQDN_SEEN_MAX = 1024;
const fqdnSeen = new Map<string, string | undefined>();

function checkFqdn(name: string): string | undefined {
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
  return annotationEntriesProblem(Object.entries(annotations).map(([k, v]) => [k, v.length]));
}

/** annotationEntriesProblem checks annotations given as [key, value bytes] pairs. */
export function annotationEntriesProblem(entries: ReadonlyArray<readonly [string, number]>): string | undefined {
  let total = 0;
  const problems: string[] = [];
  for (const [k, bytes] of entries) {
    const p = fqdnProblem(k);
    if (p) problems.push(p);
    total += Buffer.byteLength(k) + bytes;
  }
  if (total > KMS_V2_LIMITS.annotationsBytes) {
    problems.push(
      `total size of annotations is ${total}, which exceeds the max size of ${KMS_V2_LIMITS.annotationsBytes}`,
    );
  }
  return problems.length ? problems.join('; ') : undefined;
}

/**
 * EncryptedObjectFacts is what the read-path rules look at in an EncryptedObject: sizes, not contents, so a
 * reader can check a value without copying it (`encrypted-object-facts.ts`).
 */
export interface EncryptedObjectFacts {
  dekSourceType: number;
  encryptedDataBytes: number;
  encryptedDEKSourceBytes: number;
  keyId: string;
  /** [key, value bytes], each key once (a repeated map key keeps its last value). */
  annotations: ReadonlyArray<readonly [string, number]>;
}

// encryptedData must hold what the read path slices off before AES-GCM: info (KDF mode only), nonce and tag.
const MIN_DATA = { 0: 12 + 16, 1: 32 + 12 + 16 } as Record<number, number>;

/** encryptedObjectProblem: what the apiserver refuses when it reads this EncryptedObject back from etcd. */
export function encryptedObjectProblem(o: EncryptedObject): string | undefined {
  return encryptedObjectFactsProblem({
    dekSourceType: o.encryptedDEKSourceType as number,
    encryptedDataBytes: o.encryptedData.length,
    encryptedDEKSourceBytes: o.encryptedDEKSource.length,
    keyId: o.keyID,
    annotations: Object.entries(o.annotations).map(([k, v]) => [k, v.length]),
  });
}

/** encryptedObjectFactsProblem is encryptedObjectProblem over an object's facts. */
export function encryptedObjectFactsProblem(o: EncryptedObjectFacts): string | undefined {
  const type = o.dekSourceType;
  if (type !== 0 && type !== 1) return `unknown encryptedDEKSourceType: ${type}`;
  if (o.encryptedDataBytes === 0) return 'encrypted data is empty';
  const source = dekSourceBytesProblem(o.encryptedDEKSourceBytes);
  if (source) return `failed to validate encrypted DEK source: ${source}`;
  const keyId = keyIdProblem(o.keyId);
  if (keyId) return `failed to validate key id: ${keyId}`;
  const annotations = annotationEntriesProblem(o.annotations);
  if (annotations) return `failed to validate annotations: ${annotations}`;
  if (o.encryptedDataBytes < MIN_DATA[type]!) {
    return `encrypted data is ${o.encryptedDataBytes} bytes, shorter than the ${MIN_DATA[type]} its DEK source type needs`;
  }
  return undefined;
}
