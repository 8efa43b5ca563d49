import type { KmsCapability } from '../harness/lab.js';

/**
 * The faults the nemesis can inject. Window faults last `durationMs` and are then healed; the others happen at an
 * instant (a kill, a rotation, a restart) and the system has to cope on its own. `needs`: what the lab's KMS must
 * be able to do. `failsPlugin`: while it lasts, the plugin's Status calls fail or say it is unhealthy (for
 * `key-disable`, if the plugin reports a disabled key so), so the apiservers' KMS health checks must turn red.
 */
export const KINDS = {
  'kms-error': { windowed: true, failsPlugin: true },
  'kms-latency': { windowed: true, failsPlugin: false },
  'kms-hang': { windowed: true, failsPlugin: true },
  'healthz-lie': { windowed: true, failsPlugin: true },
  'key-id-lie': { windowed: true, failsPlugin: true },
  'socket-stop': { windowed: true, failsPlugin: true },
  'plugin-kill': { windowed: false, failsPlugin: false, needs: ['restart'] as KmsCapability[] },
  'key-rotate': { windowed: false, failsPlugin: false, needs: ['rotate'] as KmsCapability[] },
  'key-disable': { windowed: true, failsPlugin: true, needs: ['disable', 'enable'] as KmsCapability[] },
  'apiserver-restart': { windowed: false, failsPlugin: false },
  'apiservers-restart': { windowed: false, failsPlugin: false },
  'etcd-kill': { windowed: true, failsPlugin: false },
  'config-reload': { windowed: false, failsPlugin: false },
  // At the cloud behind the plugin (labs with --cloud): the cluster's role loses its grant, the key is disabled, every
  // request is throttled, the key gets a new version (its key id, and so the plugin's key_id, stay the same).
  'cloud-revoke': { windowed: true, failsPlugin: true, needs: ['cloud-revoke', 'cloud-grant'] as KmsCapability[] },
  'cloud-disable': { windowed: true, failsPlugin: true, needs: ['cloud-disable', 'cloud-enable'] as KmsCapability[] },
  'cloud-throttle': { windowed: true, failsPlugin: true, needs: ['cloud-faults'] as KmsCapability[] },
  'cloud-rotate': { windowed: false, failsPlugin: false, needs: ['cloud-rotate'] as KmsCapability[] },
} satisfies Record<string, { windowed: boolean; failsPlugin: boolean; needs?: KmsCapability[] }>;
export type FaultKind = keyof typeof KINDS;
export const FAULT_KINDS = Object.keys(KINDS) as readonly FaultKind[];

/** FaultEvent is one fault in a schedule; `at` and `durationMs` are ms from the start of the run. */
export interface FaultEvent {
  at: number;
  kind: FaultKind;
  durationMs: number;
  /** The apiserver a one-apiserver fault targets (index). */
  target?: number;
}
