// kmslab as a library: start a lab, run scenarios on it (yours or kmslab's), read the reports.
export { startLab, labOptionsFor, type StartLabOptions, type Backend } from './harness/start-lab.js';
export {
  ApiError,
  type Lab,
  type LabApi,
  type LabEtcd,
  type LabKms,
  type LabKmsStatus,
  type LabApiserver,
  type LabClock,
  type LabNeeds,
  type KmsCapability,
  type KeyRef,
  type ObjectRef,
  type StoredSecret,
  type HttpAnswer,
  type ConfigChange,
  type StartWait,
} from './harness/lab.js';
export { KmslabError } from './harness/common/errors.js';
export { defineScenario, type ScenarioDefinition } from './scenarios/define.js';
export { labFactory } from './scenarios/lab-factory.js';
export { SCENARIOS, selectScenarios } from './scenarios/catalog.js';
export { runScenarios, runScenario, type RunOptions, type RunReport, type LabFactory } from './scenarios/runner.js';
export type {
  Scenario,
  ScenarioContext,
  ScenarioParams,
  ScenarioResult,
  StepRecord,
  RunEvent,
  Evidence,
} from './scenarios/model.js';
export { ScenarioFailure } from './scenarios/error-class.js';
export { storedAs, expectAllKmsV2, expectAllPlaintext, keyIdOf } from './scenarios/checks.js';
export { toJUnit } from './scenarios/reports/junit.js';
export { renderConsole } from './scenarios/reports/console.js';
export type { FaultSpec, AuditRecord, AuditQuery } from './fake-kms/index.js';
export type { EncryptionRule, ProviderSpec } from './harness/kube/encryption-config.js';
export type { CoverageSummary } from './harness/inspect/index.js';
