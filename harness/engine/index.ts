export { startEngine, stopEngine, engineStatus, dockerInfo, type EngineStatus } from './docker-engine.js';
export { engineDir } from './engine-programs.js';
export { RUNTIME_NAME } from './runtime-wrapper.js';
export { aptInstall, hasCommand } from './apt.js';
