import junitReport, { type Builder } from 'junit-report-builder';
import type { ConformanceReport } from './run-conformance.js';

// A CommonJS module typed as an ES module: at run time the default import is the builder itself.
const junit = junitReport as unknown as Builder;

const mark = { passed: '✓', failed: '✗', skipped: '-' } as const;

/** renderConformance is the summary a person reads: each check, its level, and what failed or was skipped. */
export function renderConformance(report: ConformanceReport): string {
  const lines: string[] = [];
  for (const c of report.checks) {
    const warn = c.outcome === 'failed' && c.level === 'recommended' && !report.strict;
    lines.push(`${warn ? '!' : mark[c.outcome]} [${c.level}] ${c.id}: ${c.title}`);
    if (c.message) lines.push(`    ${c.outcome === 'skipped' ? 'skipped' : warn ? 'warning' : 'failed'}: ${c.message}`);
  }
  const { required: r, recommended: w } = report.counts;
  lines.push(
    '',
    `required: ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped · recommended: ${w.passed} passed, ${w.failed} ${report.strict ? 'failed' : 'warnings'}, ${w.skipped} skipped`,
    `${report.outcome === 'passed' ? 'PASS' : 'FAIL'} in ${(report.durationMs / 1000).toFixed(0)} s${report.strict ? ' (strict)' : ''}`,
  );
  return lines.join('\n');
}

/** conformanceJUnit renders the checks as JUnit: a testsuite per phase, a testcase per check. */
export function conformanceJUnit(report: ConformanceReport): string {
  const builder = junit.newBuilder().name('kmslab-conformance');
  for (const phase of ['protocol', 'lifecycle', 'scenario'] as const) {
    const checks = report.checks.filter((c) => c.phase === phase);
    if (!checks.length) continue;
    const suite = builder.testSuite().name(phase);
    for (const c of checks) {
      const tc = suite
        .testCase()
        .className(`kmslab.conformance.${phase}`)
        .name(`${c.id} [${c.level}]`)
        .time(c.durationMs / 1000)
        .property('source', c.source);
      if (c.outcome === 'skipped') tc.skipped().standardOutput(c.message ?? '');
      else if (c.outcome === 'failed' && (c.level === 'required' || report.strict)) tc.failure(c.message, c.level);
      else if (c.outcome === 'failed') tc.standardError(`warning (recommended): ${c.message}`);
      if (c.evidence) tc.standardOutput(JSON.stringify(c.evidence));
    }
  }
  return builder.build();
}
