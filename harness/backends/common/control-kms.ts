import type { KmsControlClient } from '../../../fake-kms/index.js';
import type { LabKms } from '../../lab.js';

/** controlKms is LabKms over a fake KMS's control socket; `restart` is the backend's way to restart the plugin. */
export function controlKms(c: KmsControlClient, restart: () => Promise<void>): LabKms {
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
    restart,
    audit: (query) => c.audit(query),
  };
}
