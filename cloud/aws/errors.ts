import type { CloudError } from '../core/cloud-error.js';

/**
 * AwsError is an error answer of AWS KMS or STS: HTTP status, code and message. Statuses are the Smithy model's
 * (`smithy.api#httpError` in aws-sdk-go-v2's codegen/sdk-codegen/aws-models/kms.json) where it gives one; the
 * authentication errors' are what the JSON services answer (400). docs/cloud.md lists the sources.
 */
export class AwsError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** The errorCode CloudTrail records, where it differs from the API's (AccessDeniedException → AccessDenied). */
    readonly trailCode: string = code,
  ) {
    super(message);
    this.name = 'AwsError';
  }
}

const e = (status: number, code: string, message: string, trailCode?: string) =>
  new AwsError(status, code, message, trailCode);

/** The window AWS KMS allows between a request's X-Amz-Date and the service's clock. */
export const KMS_SKEW_MINUTES = 5;
/** STS (a query service) allows 15 minutes. */
export const STS_SKEW_MINUTES = 15;

export const errors = {
  missingAuthentication: () => e(400, 'MissingAuthenticationTokenException', 'Missing Authentication Token'),
  incompleteSignature: (problem: string) => e(400, 'IncompleteSignatureException', problem),
  unrecognizedClient: () =>
    e(400, 'UnrecognizedClientException', 'The security token included in the request is invalid.'),
  invalidSignature: () =>
    e(
      400,
      'InvalidSignatureException',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
    ),
  signatureExpired: (sent: string, now: number, minutes: number) =>
    e(
      400,
      'InvalidSignatureException',
      `Signature expired: ${sent} is now earlier than ${amzDate(now - minutes * 60_000)} (${amzDate(now)} - ${minutes} min.)`,
    ),
  signatureNotYetCurrent: (sent: string, now: number, minutes: number) =>
    e(
      400,
      'InvalidSignatureException',
      `Signature not yet current: ${sent} is still later than ${amzDate(now + minutes * 60_000)} (${amzDate(now)} + ${minutes} min.)`,
    ),
  expiredToken: () => e(400, 'ExpiredTokenException', 'The security token included in the request is expired'),
  accessDenied: (who: string, action: string, resource: string) =>
    e(
      400,
      'AccessDeniedException',
      `User: ${who} is not authorized to perform: kms:${action} on resource: ${resource} because no identity-based policy allows the kms:${action} action`,
      'AccessDenied',
    ),
  unknownOperation: () => e(400, 'UnknownOperationException', ''),
  serialization: (why: string) => e(400, 'SerializationException', why),
  validation: (field: string, value: string, constraint: string) =>
    e(
      400,
      'ValidationException',
      `1 validation error detected: Value ${value} at '${field}' failed to satisfy constraint: ${constraint}`,
    ),
  notFound: (message: string) => e(404, 'NotFoundException', message),
  alreadyExists: (message: string) => e(409, 'AlreadyExistsException', message),
  invalidAliasName: (message: string) => e(400, 'InvalidAliasNameException', message),
  invalidArn: (message: string) => e(400, 'InvalidArnException', message),
  disabled: (arn: string) => e(409, 'DisabledException', `${arn} is disabled.`),
  invalidState: (message: string) => e(409, 'KMSInvalidStateException', message),
  invalidCiphertext: () => e(400, 'InvalidCiphertextException', ''),
  incorrectKey: () =>
    e(
      400,
      'IncorrectKeyException',
      'The key ID in the request does not identify a CMK that can perform this operation.',
    ),
  limitExceeded: (message: string) => e(400, 'LimitExceededException', message),
  throttling: () =>
    e(
      400,
      'ThrottlingException',
      'You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.',
    ),
  internal: (
    message = 'The request was rejected because an internal exception occurred. The request can be retried.',
  ) => e(500, 'KMSInternalException', message),
  unavailable: () => e(503, 'ServiceUnavailable', 'The request has failed due to a temporary failure of the server.'),
};

/** amzDate spells a time as SigV4 does: 20150830T123600Z. */
export const amzDate = (ms: number) =>
  new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');

/** fromCloudError maps a core refusal onto the KMS error AWS gives for it; `arn` names the key. */
export function fromCloudError(error: CloudError, arn: string): AwsError {
  switch (error.kind) {
    case 'KeyNotFound':
      return errors.notFound(`Key '${arn}' does not exist`);
    case 'KeyDisabled':
      return errors.disabled(arn);
    case 'KeyPendingDeletion':
      return errors.invalidState(`${arn} is pending deletion.`);
    case 'KeyStateConflict':
      return errors.invalidState(`${arn} is ${error.detail.state ?? 'not in a state that allows this'}.`);
    case 'InvalidCiphertext':
      return errors.invalidCiphertext();
    case 'InvalidArgument':
      return e(400, 'ValidationException', error.message);
    case 'AccessDenied':
    case 'NotTrusted':
      return e(400, 'AccessDeniedException', error.message, 'AccessDenied');
    case 'UnknownAccessKey':
    case 'TokenMissing':
    case 'TokenMismatch':
      return errors.unrecognizedClient();
    case 'TokenExpired':
      return errors.expiredToken();
    case 'RoleNotFound':
      return errors.notFound(error.message);
  }
}
