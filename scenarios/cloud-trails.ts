import type { LabCloud } from '../harness/kms/index.js';
import type { Lab } from '../harness/lab.js';
import { ScenarioFailure } from './error-class.js';

/** A cloud audit event as the cloud scenarios read it: the index every cloud's trail shares. */
export type CloudEvent = Awaited<ReturnType<LabCloud['audit']>>[number];

/** cloudOf is the lab's cloud; a lab without one cannot run a cloud scenario (the runner skips it before this). */
export function cloudOf(lab: Lab): LabCloud {
  const cloud = lab.kms.cloud;
  if (!cloud) throw new ScenarioFailure('this lab has no cloud behind its plugin (start it with --cloud)');
  return cloud;
}

/** cloudMark is the newest position in the cloud's trail: `audit({afterSeq})` then holds only what came after. */
export async function cloudMark(cloud: LabCloud): Promise<number> {
  return (await cloud.audit({ limit: 1 }))[0]?.seq ?? 0;
}

export const isCryptoCall = (e: CloudEvent): boolean => e.action === 'Encrypt' || e.action === 'Decrypt';

/** tally counts events by action and outcome ("Encrypt ok", "Decrypt Forbidden.NoPermission"), for evidence. */
export function tally(events: CloudEvent[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of events) {
    const k = `${e.action} ${e.errorCode ?? 'ok'}`;
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

/** callers lists who made the events (principal, or `unknown` when the cloud could not tell). */
export function callers(events: CloudEvent[]): string[] {
  return [...new Set(events.map((e) => e.principal ?? 'unknown'))];
}
