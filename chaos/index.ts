export {
  runChaos,
  ChaosInterrupted,
  type ChaosOptions,
  type ChaosReport,
  type ChaosEvent,
  type AppliedFault,
} from './run-chaos.js';
export { planSchedule, possibleFaults, inject } from './nemesis.js';
export { FAULT_KINDS, type FaultEvent, type FaultKind } from './fault-kinds.js';
export { checkInvariants, type Invariant } from './checker.js';
export { ANOMALIES, checkRegisters, type Anomaly, type AnomalyName, type Operation } from './history/index.js';
export { CHAOS_LIMITS, checkApiservers } from './limits.js';
export { shrink, encodeSchedule, parseSchedule } from './shrink.js';
export { chaosHtml } from './html.js';
export { runWorkload } from './workload.js';
export {
  chaosSeedResult,
  chaosSeedsReport,
  renderChaosSeeds,
  chaosSeedOf,
  type ChaosSeedResult,
  type ChaosSeedsReport,
} from './report-seeds.js';
