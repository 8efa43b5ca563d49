/**
 * Names the CLI needs to describe its options, kept free of any import so that `kmslab --help` loads nothing heavy.
 */
export const KMS_METHODS = ['Status', 'Encrypt', 'Decrypt'] as const;
export type KmsMethod = (typeof KMS_METHODS)[number];

/** The gRPC status codes by name, as grpc-js and grpc-go spell them (OK left out: it is not a failure). */
export const GRPC_ERROR_CODES = [
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
] as const;

/**
 * How Status answers when the active key's primary version is disabled or destroyed — the two styles real plugins
 * use (kubernetes/kubernetes#138950):
 * - `not-ok-keep-key-id`: a response with healthz naming the problem and the same key_id (aws-encryption-provider,
 *   GCP). The apiserver extends its write key on every Status with a valid, unchanged key_id whatever healthz says,
 *   so writes go on while the key is disabled.
 * - `fail-rpc`: the Status call fails with FAILED_PRECONDITION (ACK, Azure, the upstream mock; vault-kubernetes-kms
 *   once it cannot read the key). The apiserver stops extending its write key, and writes fail 3 minutes after the last good Status.
 */
export const HEALTH_STYLES = ['not-ok-keep-key-id', 'fail-rpc'] as const;
export type HealthStyle = (typeof HEALTH_STYLES)[number];
export const DEFAULT_HEALTH_STYLE: HealthStyle = 'not-ok-keep-key-id';

/** The styles' first names, still accepted where a person types them (CLI, control API). */
export const OLD_HEALTH_STYLE_NAMES: Record<string, HealthStyle> = {
  unhealthy: 'not-ok-keep-key-id',
  error: 'fail-rpc',
};

/** healthStyleNamed reads a style by its name or its first name; undefined for anything else. */
export function healthStyleNamed(name: string): HealthStyle | undefined {
  return (HEALTH_STYLES as readonly string[]).includes(name)
    ? (name as HealthStyle)
    : Object.hasOwn(OLD_HEALTH_STYLE_NAMES, name)
      ? OLD_HEALTH_STYLE_NAMES[name]
      : undefined;
}
