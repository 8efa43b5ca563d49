import type { ScenarioResult } from './model.js';

/**
 * ScenarioOutline is what two backends must agree on for one scenario: everything both can observe that does not
 * depend on timing (how often a poll or a retry loop happened to run within a step, how many canaries a wait wrote)
 * or on randomness (key_ids, seeds, uids).
 */
export interface ScenarioOutline {
  steps: StepOutline[];
  /**
   * Refused KMS calls, per method: their gRPC codes, and the first step that saw one. Refusals come in retry loops
   * (the apiserver's 10 s probe, the watch cache's LIST), so how many fall into each later step is timing; where
   * they begin, and with what code, is not. Status calls are left out entirely: their number follows the 1-minute
   * poll and health checks, not the scenario.
   */
  refused: Record<string, { codes: string[]; firstStep: string }>;
}

export interface StepOutline {
  step: string;
  outcome: string;
  errorClass?: string;
  /** Evidence fields named `*Class`: how an error was classified. */
  classes: Record<string, unknown>;
  /** Successful Encrypts (each one a DEK seed wrapped: at start, on reload, on a key_id change) and whether any
   * Decrypt succeeded (a seed fetched back after a restart). */
  kms: { encryptOk: number; decryptOk: boolean };
  /** key_ids the step names, relabelled A, B, C… in order of first appearance in the scenario. */
  keyIds: string[];
  /** Raw etcd coverage the step measured: the share of each storage class and of each key_id (relabelled). */
  coverage: Array<{ classes: Record<string, number>; keyIds: Record<string, number> }>;
}

const KEY_ID_FIELDS = new Set(['keyId', 'from', 'to']);

/** outline reduces a scenario result to what can be compared across backends (see ScenarioOutline). */
export function outline(result: ScenarioResult): ScenarioOutline {
  const labels = new Map<string, string>();
  const label = (keyId: string) => {
    if (!labels.has(keyId)) labels.set(keyId, String.fromCharCode(65 + labels.size));
    return labels.get(keyId)!;
  };
  const refused: ScenarioOutline['refused'] = {};
  const steps = result.steps.map((s): StepOutline => {
    const calls = (s.evidence.kmsCalls ?? {}) as Record<string, Record<string, number>>;
    for (const method of ['Encrypt', 'Decrypt']) {
      for (const code of Object.keys(calls[method] ?? {}).filter((c) => c !== 'OK')) {
        const r = (refused[method] ??= { codes: [], firstStep: s.name });
        if (!r.codes.includes(code)) r.codes.push(code);
      }
    }
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
      kms: { encryptOk: calls.Encrypt?.OK ?? 0, decryptOk: (calls.Decrypt?.OK ?? 0) > 0 },
      keyIds: [...new Set(keyIds)].sort(),
      coverage,
    };
  });
  for (const r of Object.values(refused)) r.codes.sort();
  return { steps, refused };
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
