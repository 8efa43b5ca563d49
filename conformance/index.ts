export {
  runConformance,
  isFatal,
  type ConformanceOptions,
  type ConformanceReport,
  type CheckResult,
} from './run-conformance.js';
export { PROTOCOL_CHECKS, HOOK_CHECKS, ALL_CHECKS } from './checks.js';
export type { Check, Verdict, PluginDeath } from './check.js';
export { renderConformance, conformanceJUnit, checkLine } from './report.js';
