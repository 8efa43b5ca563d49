import type { CloudError } from '../core/cloud-error.js';

/**
 * AlibabaError is an error answer of the service: HTTP status, code and message, as the KMS API reference and the
 * common (POP gateway) error codes give them. Sources for each are in docs/cloud.md.
 */
export class AlibabaError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'AlibabaError';
  }
}

const e = (status: number, code: string, message: string) => new AlibabaError(status, code, message);

export const errors = {
  missingParameter: (name: string) =>
    e(
      400,
      'MissingParameter',
      `The input parameter "${name}" that is mandatory for processing this request is not supplied.`,
    ),
  invalidParameter: (name: string) => e(400, 'InvalidParameter', `The specified parameter "${name}" is not valid.`),
  incompleteSignature: (why: string) =>
    e(400, 'IncompleteSignature', `The request signature does not conform to Aliyun standards. ${why}`),
  signatureDoesNotMatch: (stringToSign: string) =>
    e(
      400,
      'SignatureDoesNotMatch',
      `Specified signature is not matched with our calculation. server string to sign is:${stringToSign}`,
    ),
  signatureNonceUsed: () => e(400, 'SignatureNonceUsed', 'Specified signature nonce was used already.'),
  missingTimestamp: () =>
    e(
      400,
      'IllegalTimestamp',
      'The input parameter "Timestamp" that is mandatory for processing this request is not supplied.',
    ),
  timestampFormat: () => e(400, 'InvalidTimeStamp.Format', 'Specified time stamp or date value is not well formatted.'),
  timestampExpired: () => e(400, 'InvalidTimeStamp.Expired', 'Specified time stamp or date value is expired.'),
  unknownAccessKey: () =>
    e(404, 'InvalidAccessKeyId.NotFound', 'The AccessKey ID provided does not exist in our records.'),
  missingToken: () => e(400, 'MissingSecurityToken', 'SecurityToken is mandatory for this action.'),
  tokenMismatch: () =>
    e(400, 'InvalidSecurityToken.MismatchWithAccessKey', 'The Security Token does not match the AccessKey ID.'),
  tokenExpired: () => e(400, 'InvalidSecurityToken.Expired', 'Specified SecurityToken is expired.'),
  noPermission: () => e(403, 'Forbidden.NoPermission', 'This operation is forbidden by permission system.'),
  keyNotFound: () => e(404, 'Forbidden.KeyNotFound', 'The specified Key is not found.'),
  disabled: () => e(409, 'Rejected.Disabled', 'The request was rejected because the key state is Disabled.'),
  pendingDeletion: () =>
    e(409, 'Rejected.PendingDeletion', 'The request was rejected because the key state is PendingDeletion.'),
  stateModifiedFailed: () => e(409, 'Rejected.StateModifiedFailed', 'Keystate modified failed.'),
  // The POP gateway's throttling answer (STS, the credentials URI).
  throttling: () => e(400, 'Throttling', 'Request was denied due to request throttling.'),
  // KMS's own, when a request quota is exceeded ("Limits" page of the KMS docs: HTTP 429, QPS Limit Exceeded).
  kmsThrottling: () => e(429, 'Rejected.Throttling', 'QPS Limit Exceeded'),
  internalFailure: () => e(500, 'InternalFailure', 'Internal Failure.'),
  // The service's own spelling (sic), from its public error code list.
  unavailable: () => e(503, 'SerivceUnavailableTemporary', 'Service Unavailable Temporary.'),
  apiNotFound: (action: string, version: string) =>
    e(
      404,
      'InvalidApi.NotFound',
      `Specified api is not found, please check your url and method. (${action} ${version})`,
    ),
  unsupportedMethod: () => e(403, 'UnsupportedHTTPMethod', 'This http method is not supported.'),
  roleNotFound: (arn: string) => e(404, 'EntityNotExist.Role', `The specified Role not exists: ${arn}`),
  stsNoPermission: () =>
    e(403, 'NoPermission', 'You are not authorized to do this action. You should be authorized by RAM.'),
};

/** fromCloudError maps a core refusal onto the KMS error the service gives for it. */
export function fromCloudError(error: CloudError): AlibabaError {
  switch (error.kind) {
    case 'KeyNotFound':
      return errors.keyNotFound();
    case 'KeyDisabled':
      return errors.disabled();
    case 'KeyPendingDeletion':
      return errors.pendingDeletion();
    case 'KeyStateConflict':
      return errors.stateModifiedFailed();
    case 'InvalidCiphertext':
      return errors.invalidParameter('CiphertextBlob');
    case 'InvalidArgument':
      return e(400, 'InvalidParameter', error.message);
    case 'AccessDenied':
    case 'NotTrusted':
      return errors.noPermission();
    case 'UnknownAccessKey':
      return errors.unknownAccessKey();
    case 'TokenMissing':
      return errors.missingToken();
    case 'TokenMismatch':
      return errors.tokenMismatch();
    case 'TokenExpired':
      return errors.tokenExpired();
    case 'RoleNotFound':
      return e(404, 'EntityNotExist.Role', error.message);
  }
}
