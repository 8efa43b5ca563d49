export { startLab, labOptionsFor, type StartLabOptions, type Backend } from './start-lab.js';
export {
  ApiError,
  type Lab,
  type LabApi,
  type LabEtcd,
  type LabKms,
  type LabApiserver,
  type LabClock,
  type ObjectRef,
  type StoredSecret,
  type HttpAnswer,
  type ConfigChange,
  type StartWait,
  type LabNeeds,
} from './lab.js';
export { LocalLab, type LocalLabOptions } from './backends/local/local-lab.js';
export { SimLab, type SimLabOptions } from './backends/sim/sim-lab.js';
export { KindLab, type KindLabOptions } from './backends/kind/kind-lab.js';
export { kindConfigYaml, KIND_PATHS } from './backends/kind/kind-config.js';
export { ComposeLab, type ComposeLabOptions } from './backends/compose/compose-lab.js';
export { KmslabError } from './common/errors.js';
export { realClock } from './common/clock.js';
export { findBinary, components, type ResolvedBinary, type BuildProgress } from './binaries/index.js';
export {
  inspectEtcd,
  Coverage,
  toRow,
  type InspectRow,
  type InspectReport,
  type CoverageSummary,
} from './inspect/index.js';
export {
  encryptionConfigYaml,
  kmsThenIdentity,
  identityOnly,
  type EncryptionRule,
  type ProviderSpec,
} from './kube/encryption-config.js';
export { stopLab } from './labs/stop-lab.js';
export { readLab, listLabs, type LabRecord } from './labs/registry.js';
export { labHealth, type LabHealth } from './labs/lab-status.js';
