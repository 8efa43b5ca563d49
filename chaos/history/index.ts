export { opsByKey, type Completion, type Fn, type Operation } from './operation.js';
export { ANOMALIES, type Anomaly, type AnomalyName } from './anomalies.js';
export { checkRegisters, type RegisterVerdict } from './register-model.js';
export { completionOf } from './outcome.js';
