import type { Lab } from '../harness/lab.js';

/**
 * auditMark is the newest audit-trail position; `lab.kms.audit({afterSeq: mark})` then returns exactly the KMS
 * calls made after it, however fine or coarse the clock (the sim's virtual time often does not move at all).
 * It throws when the trail cannot be read: falling back to 0 would silently count every call since the start.
 */
export async function auditMark(lab: Lab): Promise<number> {
  return (await lab.kms.audit({ limit: 1 }))[0]?.seq ?? 0;
}
