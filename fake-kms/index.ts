export { startFakeKms, FakeKms, type FakeKmsOptions, type FakeKmsStatus } from './fake-kms.js';
export { KmsService, type KmsServiceOptions } from './service.js';
export { KmsCallError, type KmsPlugin } from './plugin.js';
export { KeyringPlugin, REQUEST_LIMITS, type DisabledKeyStatus } from './keyring-plugin.js';
export { GrpcListener, type ListenerLimits } from './grpc-server.js';
export { Faults, FaultSpec, KMS_METHODS, type KmsMethod, type ActiveFault } from './faults.js';
export { AuditTrail, type AuditRecord, type AuditQuery, type AuditTrailOptions } from './audit.js';
export { KmsControlClient, ControlRequestError, ControlUnreachableError } from './control-client.js';
