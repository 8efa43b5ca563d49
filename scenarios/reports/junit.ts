import junitReport, { type Builder } from 'junit-report-builder';
import type { RunReport } from '../runner.js';

// A CommonJS module typed as an ES module: at run time the default import is the builder itself.
const junit = junitReport as unknown as Builder;

/**
 * toJUnit renders a run as JUnit XML (junit-report-builder keeps the counts and the escaping right): one testsuite
 * per scenario, one testcase per step. Steps a failure left unrun are not invented; a scenario that failed outside
 * any step (its lab did not start, or the run was interrupted) gets a testcase of its own, so every count — tests,
 * failures — is of testcases.
 */
export function toJUnit(report: RunReport): string {
  const builder = junit.newBuilder().name('kmslab');
  for (const s of report.scenarios) {
    const suite = builder
      .testSuite()
      .name(s.name)
      .time(s.durationMs / 1000)
      .timestamp(new Date(s.startedAt))
      .property('backend', s.backend)
      .property('proves', s.proves);
    if (s.artifacts) suite.property('artifacts', s.artifacts);
    for (const step of s.steps) {
      const tc = suite
        .testCase()
        .className(`kmslab.${s.name}`)
        .name(step.name)
        .time(step.durationMs / 1000);
      if (step.outcome === 'failed') {
        tc.failure(step.error?.message ?? 'failed', step.error?.class ?? 'error').standardError(
          JSON.stringify(step.evidence, null, 2),
        );
      } else tc.standardOutput(JSON.stringify(step.evidence));
    }
    if (s.outcome === 'skipped') {
      suite.testCase().className(`kmslab.${s.name}`).name('scenario').skipped().standardOutput(s.skipped ?? '');
    }
    if (s.outcome === 'failed' && !s.steps.some((st) => st.outcome === 'failed')) {
      suite
        .testCase()
        .className(`kmslab.${s.name}`)
        .name('scenario')
        .failure(s.error ?? 'failed');
    }
  }
  return builder.build();
}
