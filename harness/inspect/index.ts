export { inspectEtcd, DIAL_TIMEOUT_MS, type InspectOptions, type InspectReport } from './inspect.js';
export { Coverage, toRow, type InspectRow, type CoverageSummary } from './coverage.js';
export { scanPrefix, type EtcdEntry, type EtcdPage, type RangeSource } from './etcd-scan.js';
export { prefixEnd } from './scan-window.js';
export { openEtcd, etcd3Range } from './etcd-client.js';
export { EtcdRange, type EtcdTls } from './etcd-range.js';
export {
  parseFailOn,
  failOnOf,
  describeFailOn,
  meets,
  prefixOf,
  FAIL_ON_HELP,
  type FailOn,
  type Stored,
} from './fail-on.js';
export { Gate, type GateCase, type OffendingKey, type RowCheck } from './gate.js';
export { inspectJUnit, type InspectJUnitInput } from './junit.js';
