export {
  runConformance,
  type ConformanceOptions,
  type ConformanceReport,
  type CheckResult,
} from './run-conformance.js';
export { PROTOCOL_CHECKS, HOOK_CHECKS, type Check } from './checks.js';
export { renderConformance, conformanceJUnit } from './report.js';
