import type { Evidence } from './model.js';

/** MAX_EVIDENCE_BYTES bounds one step's evidence as JSON: reports carry counts and summaries, not raw data. */
export const MAX_EVIDENCE_BYTES = 1024 * 1024;

export type EvidenceSnapshot = { ok: true; evidence: Evidence } | { ok: false; problem: string };

/**
 * snapshotEvidence copies a step's evidence as the reports will hold it (JSON), so a report can always be written
 * and nothing the scenario does later changes what was recorded. Evidence that JSON cannot hold (a cycle, a BigInt,
 * a throwing toJSON) or that is too large is a problem that fails the step, named by its path.
 */
export function snapshotEvidence(evidence: Evidence): EvidenceSnapshot {
  let text: string;
  try {
    text = JSON.stringify(evidence) ?? '{}';
  } catch (error) {
    const where = unwritable(evidence, 'evidence', []) ?? (error as Error).message.split('\n')[0];
    return { ok: false, problem: `the step's evidence cannot be written as JSON: ${where}` };
  }
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_EVIDENCE_BYTES) {
    return {
      ok: false,
      problem: `the step's evidence is ${(bytes / 1024 / 1024).toFixed(1)} MiB as JSON; a step may record at most 1 MiB (record counts and summaries, not raw values)`,
    };
  }
  return { ok: true, evidence: JSON.parse(text) as Evidence };
}

// Finds the first value JSON.stringify refuses, for a message that points at it.
function unwritable(value: unknown, path: string, ancestors: object[]): string | undefined {
  if (typeof value === 'bigint') return `${path} is a BigInt (record it as a string or a number)`;
  if (value === null || typeof value !== 'object') return undefined;
  if (ancestors.includes(value)) return `${path} refers back to an object that contains it (a cycle)`;
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    try {
      (value as { toJSON: () => unknown }).toJSON();
    } catch (error) {
      return `${path}.toJSON() throws: ${(error as Error)?.message ?? String(error)}`;
    }
    return undefined;
  }
  const inner = [...ancestors, value];
  for (const [key, child] of Object.entries(value)) {
    const found = unwritable(child, Array.isArray(value) ? `${path}[${key}]` : `${path}.${key}`, inner);
    if (found) return found;
  }
  return undefined;
}
