export { startFakeKms, FakeKms, type FakeKmsOptions, type FakeKmsStatus } from './fake-kms.js';
export { KmsService, KmsCallError, type DisabledKeyStatus } from './service.js';
export { Faults, FaultSpec, KMS_METHODS, type KmsMethod, type ActiveFault } from './faults.js';
export { AuditTrail, type AuditRecord, type AuditQuery } from './audit.js';
export { KmsControlClient, ControlRequestError } from './control-client.js';
