export { findBinary, type ResolvedBinary, type FindOptions, type ComponentName } from './find.js';
export { components } from './components.js';
export type { BuildProgress, ProgressListener } from './build.js';
