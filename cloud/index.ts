// Cloud KMS emulators (Alibaba Cloud, AWS): the cloud behind a KMS plugin (keys, identities, grants, faults, a
// cloud-shaped audit trail).
export {
  AlibabaEmulator,
  CLUSTER_ROLE,
  type AlibabaConnection,
  type AlibabaEmulatorOptions,
} from './alibaba/emulator.js';
export type { ActionTrailEvent } from './alibaba/actiontrail.js';
export {
  AwsEmulator,
  AWS_CLUSTER_ROLE,
  AWS_CLUSTER_USER,
  type AwsConnection,
  type AwsEmulatorOptions,
} from './aws/emulator.js';
export type { CloudTrailEvent } from './aws/cloudtrail.js';
export { awsPlugin } from './aws/plugin.js';
export { CloudControlClient } from './control-client.js';
export { CloudFaultSpec, type ActiveCloudFault } from './core/faults.js';
export { PERMISSIONS, type Grant, type GrantSpec, type Permission, type RevokeSpec } from './core/grants.js';
export type { AuditEntry, AuditQuery } from './core/audit-log.js';
export type { KeyView, KeyState } from './core/keys.js';
export { alibabaPlugin } from './plugins.js';
