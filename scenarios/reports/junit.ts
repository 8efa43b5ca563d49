import type { RunReport } from '../runner.js';

const esc = (s: string) =>
  s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!).replace(
    // XML 1.0 forbids most control characters even when escaped.
    /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g,
    '',
  );

/**
 * toJUnit renders a run as JUnit XML: one testsuite per scenario, one testcase per step. Steps a failure left
 * unrun are not invented; a scenario that failed outside any step gets a testcase of its own.
 */
export function toJUnit(report: RunReport): string {
  const suites = report.scenarios.map((s) => {
    const cases = s.steps.map((step) => {
      const body =
        step.outcome === 'failed'
          ? `<failure type="${esc(step.error?.class ?? 'error')}" message="${esc(step.error?.message ?? '')}">${esc(
              JSON.stringify(step.evidence, null, 2),
            )}</failure>`
          : `<system-out>${esc(JSON.stringify(step.evidence))}</system-out>`;
      return `    <testcase classname="kmslab.${esc(s.name)}" name="${esc(step.name)}" time="${(step.durationMs / 1000).toFixed(3)}">${body}</testcase>`;
    });
    if (s.outcome === 'failed' && !s.steps.some((st) => st.outcome === 'failed')) {
      cases.push(`    <testcase classname="kmslab.${esc(s.name)}" name="scenario" time="0"><failure message="${esc(s.error ?? 'failed')}"/></testcase>`);
    }
    const failures = cases.filter((c) => c.includes('<failure')).length;
    return [
      `  <testsuite name="${esc(s.name)}" tests="${cases.length}" failures="${failures}" time="${(s.durationMs / 1000).toFixed(3)}" timestamp="${s.startedAt}">`,
      `    <properties><property name="backend" value="${esc(s.backend)}"/><property name="proves" value="${esc(s.proves)}"/>${
        s.artifacts ? `<property name="artifacts" value="${esc(s.artifacts)}"/>` : ''
      }</properties>`,
      ...cases,
      '  </testsuite>',
    ].join('\n');
  });
  const tests = report.scenarios.reduce((n, s) => n + Math.max(s.steps.length, 1), 0);
  const failures = report.scenarios.filter((s) => s.outcome === 'failed').length;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="kmslab" tests="${tests}" failures="${failures}" time="${(report.durationMs / 1000).toFixed(3)}">\n${suites.join('\n')}\n</testsuites>\n`;
}
