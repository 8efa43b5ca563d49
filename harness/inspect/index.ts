export { inspectEtcd, type InspectOptions, type InspectReport } from './inspect.js';
export { Coverage, toRow, type InspectRow, type CoverageSummary } from './coverage.js';
export { openEtcd, scanPrefix, prefixEnd, type EtcdEntry, type EtcdPage } from './etcd-scan.js';
export { EtcdRange, type EtcdTls } from './etcd-range.js';
export { parseFailOn, describeFailOn, breaks, FAIL_ON_HELP, type FailOn } from './fail-on.js';
