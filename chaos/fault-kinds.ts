import type { KmsCapability } from '../harness/lab.js';

/**
 * The faults the nemesis can inject. Window faults last `durationMs` and are then healed; the others happen at an
 * instant (a kill, a rotation, a restart) and the system has to cope on its own. `needs`: what the lab's KMS must
 * be able to do.
 */
export const KINDS = {
  'kms-error': { windowed: true },
  'kms-latency': { windowed: true },
  'kms-hang': { windowed: true },
  'healthz-lie': { windowed: true },
  'key-id-lie': { windowed: true },
  'socket-stop': { windowed: true },
  'plugin-kill': { windowed: false, needs: ['restart'] as KmsCapability[] },
  'key-rotate': { windowed: false, needs: ['rotate'] as KmsCapability[] },
  'key-disable': { windowed: true, needs: ['disable', 'enable'] as KmsCapability[] },
  'apiserver-restart': { windowed: false },
  'apiservers-restart': { windowed: false },
  'etcd-kill': { windowed: true },
  'config-reload': { windowed: false },
} satisfies Record<string, { windowed: boolean; needs?: KmsCapability[] }>;
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
