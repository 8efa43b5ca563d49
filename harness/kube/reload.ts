import { GiveUp } from '../common/wait.js';

const RELOADS = 'apiserver_encryption_config_controller_automatic_reloads_total';

/** reloadFailures sums `automatic_reloads_total{status="failure"}` in a /metrics text. */
export function reloadFailures(metrics: string): number {
  return metrics
    .split('\n')
    .filter((l) => l.startsWith(RELOADS) && l.includes('status="failure"'))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

/**
 * reloadOutcome reads /metrics after a new EncryptionConfiguration was written: true once the apiserver reports the
 * file's hash in `last_config_info` (1.34+), undefined while it has not polled the file yet, GiveUp when it counted
 * a failed reload (its KMS check failed; the old config keeps serving).
 */
export function reloadOutcome(metrics: string, hash: string, failuresBefore: number, who: string): true | undefined {
  if (reloadFailures(metrics) > failuresBefore) {
    throw new GiveUp(`${who} rejected the new encryption config (automatic reload failed)`);
  }
  return metrics.includes(`hash="${hash}"`) ? true : undefined;
}
