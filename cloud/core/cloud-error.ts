/** CloudErrorKind names what went wrong in cloud-neutral terms; each cloud front maps a kind to its own error code. */
export type CloudErrorKind =
  | 'KeyNotFound'
  | 'KeyDisabled'
  | 'KeyPendingDeletion'
  | 'KeyStateConflict'
  | 'InvalidCiphertext'
  | 'InvalidArgument'
  | 'AccessDenied'
  | 'UnknownAccessKey'
  | 'TokenMissing'
  | 'TokenMismatch'
  | 'TokenExpired'
  | 'RoleNotFound'
  | 'NotTrusted';

/** CloudError is a refusal by the emulated cloud (not a bug): a kind, a message, and facts a front may need. */
export class CloudError extends Error {
  constructor(
    readonly kind: CloudErrorKind,
    message: string,
    readonly detail: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'CloudError';
  }
}
