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
