import type { AuditRecord } from '../fake-kms/index.js';
import type { Lab } from '../harness/lab.js';

/** refusals: the plugin's answers since the mark that were not a success (a failed RPC, or an unhealthy healthz). */
export async function refusals(lab: Lab, afterSeq: number): Promise<AuditRecord[]> {
  return (await lab.kms.audit({ afterSeq })).filter((r) => r.code !== 'OK' || r.healthz !== undefined);
}

/**
 * statusStyle says how the plugin answered the apiserver's Status calls since the mark: the distinct failed RPCs
 * (code and message) and unhealthy healthz texts, a few at most, each cut short.
 */
export async function statusStyle(lab: Lab, afterSeq: number): Promise<string[]> {
  const answers = (await refusals(lab, afterSeq))
    .filter((r) => r.method === 'Status')
    .map((r) =>
      sameEachTime(r.code === 'OK' ? `healthz: ${r.healthz!}` : `${r.code}: ${r.message ?? ''}`).slice(0, 240),
    );
  return [...new Set(answers)].slice(0, 4);
}

// A request id differs on every call: without it, the same refusal reads the same each time.
const sameEachTime = (text: string) => text.replace(/(request(?: ?id)?:? )[0-9a-f-]{36}/gi, '$1…');

/** firstRefusal is the plugin's first answer since the mark that was not a success, for when an outage began. */
export async function firstRefusal(lab: Lab, afterSeq: number) {
  const r = (await refusals(lab, afterSeq))[0];
  return (
    r && { method: r.method, code: r.code, at: r.time, ...(r.healthz ? { healthz: r.healthz.slice(0, 160) } : {}) }
  );
}
