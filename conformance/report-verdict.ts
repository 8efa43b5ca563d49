import type { CheckResult } from './check-runner.js';

/** isFatal: a result that fails the run — a required check failed (or any, `strict`), or the plugin died in it. */
export const isFatal = (r: CheckResult, strict: boolean) =>
  r.outcome === 'failed' && (r.level === 'required' || strict || r.died !== undefined);

/** ConformanceVerdict is what a set of check results adds up to: the outcome, the tallies, what was not checked. */
export interface ConformanceVerdict {
  outcome: 'passed' | 'failed';
  counts: Record<'required' | 'recommended', Record<CheckResult['outcome'], number>>;
  /** Required checks that were skipped or not run, and why: a pass is then not a full one. */
  notChecked: Array<{ id: string; why: string }>;
}

/**
 * conformanceVerdict judges check results as one run does (and a merge of shards must): failed when a result is
 * fatal, the run was cut short, or — with `requireAll` — a required check was skipped or not run.
 */
export function conformanceVerdict(
  results: CheckResult[],
  o: { strict: boolean; requireAll: boolean; cutShort: boolean },
): ConformanceVerdict {
  const tally = (level: CheckResult['level']) => {
    const of = (outcome: CheckResult['outcome']) =>
      results.filter((r) => r.level === level && r.outcome === outcome).length;
    return { passed: of('passed'), failed: of('failed'), skipped: of('skipped'), 'not-run': of('not-run') };
  };
  // A backend check skipped for want of a cloud is not a gap --require-all can close: a plugin of a cloud kmslab does
  // not emulate has no backend to fail.
  const notChecked = results
    .filter((r) => r.level === 'required' && (r.outcome === 'skipped' || r.outcome === 'not-run'))
    .filter((r) => !(r.phase === 'backend' && r.outcome === 'skipped'))
    .map((r) => ({ id: r.id, why: r.message ?? '' }));
  const failed = results.some((r) => isFatal(r, o.strict)) || o.cutShort || (o.requireAll && notChecked.length > 0);
  return {
    outcome: failed ? 'failed' : 'passed',
    counts: { required: tally('required'), recommended: tally('recommended') },
    notChecked,
  };
}
