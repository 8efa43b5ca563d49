export {
  runConformance,
  isFatal,
  type ConformanceOptions,
  type ConformanceReport,
  type CheckResult,
} from './run-conformance.js';
export { PROTOCOL_CHECKS, HOOK_CHECKS, BACKEND_CHECKS, ALL_CHECKS } from './checks.js';
export { standaloneBackend, cloudBackend, type CloudCheckBackend } from './cloud-backend.js';
export type { Check, Verdict, PluginDeath } from './check.js';
export { renderConformance, conformanceJUnit, checkLine } from './report.js';
export { conformanceVerdict, type ConformanceVerdict } from './report-verdict.js';
export {
  mergeConformance,
  conformanceCellOf,
  conformanceContextOf,
  type ConformanceCellResult,
  type ConformanceShardContext,
} from './report-merge.js';
