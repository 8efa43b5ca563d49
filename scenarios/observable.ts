import type { ScenarioResult } from './model.js';

/**
 * StepOutline is what two backends must agree on for one step: everything both can observe that does not depend on
 * timing (how often a poll happened to run, how many canaries a wait wrote) or on randomness (key_ids, seeds).
 */
export interface StepOutline {
  step: string;
  outcome: string;
  errorClass?: string;
  /** Evidence fields named `*Class`: how an error was classified. */
  classes: Record<string, unknown>;
  /** KMS calls per method, as the plugin's audit trail saw them: which gRPC codes, and exactly how many successful
   * Encrypts (each one is a DEK seed wrapped: at start, on reload, on a key_id change). Status calls are left out:
   * their number follows the apiserver's 1-minute poll and health checks, not the scenario. */
  kms: { encryptOk: number; encrypt: string[]; decrypt: string[] };
  /** key_ids the step names, relabelled A, B, C… in order of first appearance in the scenario. */
  keyIds: string[];
  /** Raw etcd coverage the step measured: storage classes present, and the share on each key_id (relabelled). */
  coverage: Array<{ classes: Record<string, number>; keyIds: Record<string, number> }>;
}

const KEY_ID_FIELDS = new Set(['keyId', 'from', 'to']);

/** outline reduces a scenario result to what can be compared across backends (see StepOutline). */
export function outline(result: ScenarioResult): StepOutline[] {
  const labels = new Map<string, string>();
  const label = (keyId: string) => {
    if (!labels.has(keyId)) labels.set(keyId, String.fromCharCode(65 + labels.size));
    return labels.get(keyId)!;
  };
  return result.steps.map((s) => {
    const calls = (s.evidence.kmsCalls ?? {}) as Record<string, Record<string, number>>;
    const codes = (method: string) => Object.keys(calls[method] ?? {}).sort();
    const keyIds = Object.entries(s.evidence)
      .filter(([k, v]) => KEY_ID_FIELDS.has(k) && typeof v === 'string')
      .map(([, v]) => label(v as string));
    const coverage = Object.values(s.evidence)
      .filter(isCoverage)
      .map((c) => ({
        classes: shares(c.byClass, c.total),
        keyIds: shares(
          Object.fromEntries(
            Object.values(c.byKeyId).flatMap((ids) => Object.entries(ids).map(([id, n]) => [label(id), n])),
          ),
          c.total,
        ),
      }));
    return {
      step: s.name,
      outcome: s.outcome,
      ...(s.error?.class ? { errorClass: s.error.class } : {}),
      classes: Object.fromEntries(Object.entries(s.evidence).filter(([k]) => k.endsWith('Class'))),
      kms: { encryptOk: calls.Encrypt?.OK ?? 0, encrypt: codes('Encrypt'), decrypt: codes('Decrypt') },
      keyIds: [...new Set(keyIds)].sort(),
      coverage,
    };
  });
}

interface CoverageLike {
  total: number;
  byClass: Record<string, number>;
  byKeyId: Record<string, Record<string, number>>;
}

function isCoverage(v: unknown): v is CoverageLike {
  return typeof v === 'object' && v !== null && 'byClass' in v && 'byKeyId' in v && 'total' in v;
}

// Shares in whole percent: the counts depend on how many canaries a wait wrote, the split does not.
function shares(counts: Record<string, number>, total: number): Record<string, number> {
  return Object.fromEntries(
    Object.entries(counts)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, n]) => [k, total ? Math.round((100 * n) / total) : 0]),
  );
}
