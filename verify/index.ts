export { verify, type VerifyOptions, type VerifyReport, type ConditionResult, type SourceState } from './verify.js';
export {
  parseConditions,
  describeCondition,
  meetsValue,
  isValueCondition,
  CONDITION_HELP,
  DECIDED_BY,
  type Condition,
  type ValueCondition,
  type Source,
} from './conditions.js';
export { ClusterUnreadable, type ClusterApi } from './cluster-api.js';
export { kubeconfigApi } from './kubeconfig-api.js';
export { readCloudAudit, type CloudAudit, type KmsCall } from './cloud-audit.js';
export type { CloudExpectation } from './judge-cloud.js';
export type { EtcdTarget } from './etcd-evidence.js';
export { verifyJUnit, verifySarif } from './reports.js';
export { storedAsRow } from './etcd-evidence.js';
export { parsePrometheusText, type Sample } from './prometheus-text.js';
export { encryptionMetrics, type EncryptionMetrics } from './encryption-metrics.js';
