import junitReport, { type Builder } from 'junit-report-builder';
import { printable } from '../harness/common/printable.js';
import type { CheckResult } from './check-runner.js';
import type { ConformanceReport } from './run-conformance.js';

// A CommonJS module typed as an ES module: at run time the default import is the builder itself.
const junit = junitReport as unknown as Builder;

const mark = { passed: '✓', failed: '✗', skipped: '-', 'not-run': '·' } as const;

// Text from the plugin (errors, healthz, log lines) is printed escaped: one line per entry, no control bytes.
const line = (text: string) => printable(text, 2_000);

const isWarning = (c: CheckResult, strict: boolean) =>
  c.outcome === 'failed' && c.level === 'recommended' && !strict && !c.died;

/** checkLine is a check's one line as it finishes: mark, id, and what failed, was skipped or not run. */
export function checkLine(c: CheckResult, strict: boolean): string {
  const m = isWarning(c, strict) ? '!' : mark[c.outcome];
  return `${m} ${c.id}${c.message ? `: ${line(c.message)}` : ''}`;
}

/** renderConformance is the summary a person reads: each check, its level, and what failed, was skipped or not run. */
export function renderConformance(report: ConformanceReport): string {
  const lines: string[] = [];
  for (const c of report.checks) {
    const warn = isWarning(c, report.strict);
    lines.push(`${warn ? '!' : mark[c.outcome]} [${c.level}] ${c.id}: ${c.title}`);
    if (c.restarted) lines.push(`    ${line(c.restarted)}`);
    const said =
      c.outcome === 'failed' ? (warn ? 'warning' : 'failed') : c.outcome === 'not-run' ? 'not run' : c.outcome;
    if (c.message) lines.push(`    ${said}: ${line(c.message.replace(/^not run: /, ''))}`);
    if (c.note) lines.push(`    note: ${line(c.note)}`);
    if (c.died) {
      lines.push(`    the end of the plugin's log (${c.died.logFile ?? 'no log: kmslab did not start it'}):`);
      for (const l of c.died.lastLines.filter((l) => l.trim()).slice(-8)) lines.push(`      | ${line(l)}`);
    }
  }
  const { required: r, recommended: w } = report.counts;
  const notRun = report.notChecked.length;
  const why = [...new Set(report.notChecked.map((n) => (n.why.startsWith('needs ') ? n.why : 'after other failures')))];
  lines.push(
    '',
    `required: ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped, ${r['not-run']} not run · recommended: ${w.passed} passed, ${w.failed} ${report.strict ? 'failed' : 'warnings'}, ${w.skipped} skipped, ${w['not-run']} not run`,
  );
  const verdict = `${report.outcome === 'passed' ? 'PASS' : 'FAIL'} in ${(report.durationMs / 1000).toFixed(0)} s${report.strict ? ' (strict)' : ''}`;
  const incomplete = notRun
    ? `not fully checked: ${notRun} required check${notRun === 1 ? '' : 's'} not run (${why.join('; ')})`
    : '';
  lines.push(
    !incomplete
      ? verdict
      : report.requireAll
        ? `${verdict} — ${incomplete}, and --require-all is set`
        : `${verdict} — ${incomplete}; --require-all makes that a failure`,
    `logs: ${report.artifacts}`,
  );
  return lines.join('\n');
}

/** conformanceJUnit renders the checks as JUnit: a testsuite per phase, a testcase per check. */
export function conformanceJUnit(report: ConformanceReport): string {
  const builder = junit.newBuilder().name('kmslab-conformance');
  for (const phase of ['protocol', 'lifecycle', 'backend', 'scenario'] as const) {
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
      const message = c.message === undefined ? '' : line(c.message);
      if (c.outcome === 'skipped' || c.outcome === 'not-run') tc.skipped().standardOutput(message);
      else if (c.outcome === 'failed' && !isWarning(c, report.strict)) tc.failure(message, c.level);
      else if (c.outcome === 'failed') tc.standardError(`warning (recommended): ${message}`);
      const out = [c.note ? `note: ${line(c.note)}` : '', c.evidence ? line(JSON.stringify(c.evidence)) : '']
        .filter(Boolean)
        .join('\n');
      if (out) tc.standardOutput(out);
    }
  }
  return builder.build();
}
