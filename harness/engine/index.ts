export { startEngine, stopEngine, engineStatus, dockerInfo, engineDir, type EngineStatus } from './docker-engine.js';
export { RUNTIME_NAME } from './runtime-wrapper.js';
export { aptInstall, hasCommand } from './apt.js';
