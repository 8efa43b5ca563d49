// The KMS side of any lab: the plugin spec (the fake KMS, or a plugin of the user's run by command or on a socket),
// its processes, the proxy in front of an external plugin, hooks, control, and the lab's KMS files.
export {
  HOOKS,
  checkExternalPlugin,
  externalPluginFrom,
  type ExternalPlugin,
  type Hook,
  type PluginFlags,
} from './plugin-spec.js';
export { ExternalPluginProcess, pluginAnswers, runHook } from './external-plugin.js';
export { controlKms, externalLacks, hookedKms } from './control-kms.js';
export { KmsPluginProcess, type KmsPluginPaths } from './kms-plugin-process.js';
export { kmsSide, kmsOfRecord, kmsTarget, type KmsMember, type KmsSide, type KmsTarget } from './kms-side.js';
export { checkCloud, cloudFiles, CloudEmulatorProcess, standaloneCloud } from './cloud-side.js';
export { labCloud, type CloudRecord } from './cloud-kms.js';
export {
  CLOUDS,
  CLOUD_CAPABILITIES,
  NO_CLOUD,
  type CloudCapability,
  type CloudName,
  type LabCloud,
} from './lab-cloud.js';
