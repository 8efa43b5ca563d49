import type { LabKms } from '../../lab.js';
import type { KmsPluginProcess } from './kms-plugin-process.js';

/** localKms is LabKms over the plugin process's control socket; `restart` is a real SIGKILL and restart. */
export function localKms(plugin: KmsPluginProcess, onRestart: () => Promise<void>): LabKms {
  const c = plugin.client;
  return {
    status: () => c.status(),
    rotate: (key) => c.rotate(key),
    disable: (id) => c.disable(id),
    enable: (id) => c.enable(id),
    destroy: (id) => c.destroy(id),
    addFault: (spec) => c.addFault(spec),
    clearFaults: async (id) => {
      await c.clearFaults(id);
    },
    setDisabledKeyStatus: async (mode) => {
      await c.setDisabledKeyStatus(mode);
    },
    stopPlugin: async () => {
      await c.stopPlugin();
    },
    startPlugin: async () => {
      await c.startPlugin();
    },
    restart: async () => {
      await plugin.crash();
      await plugin.start();
      await onRestart();
    },
    audit: (query) => c.audit(query),
  };
}
