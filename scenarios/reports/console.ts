import type { RunReport } from '../runner.js';

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** renderConsole is the end-of-run summary a person reads: each scenario, what it proves, and any failure. */
export function renderConsole(report: RunReport): string {
  const lines: string[] = [];
  for (const s of report.scenarios) {
    if (s.outcome === 'skipped') {
      lines.push(`- ${s.name} skipped: ${s.skipped}`);
      continue;
    }
    lines.push(`${s.outcome === 'passed' ? '✓' : '✗'} ${s.name} (${secs(s.durationMs)}, ${s.backend})`);
    if (s.outcome === 'passed') lines.push(`    proves: ${s.proves}`);
    else {
      const failed = s.steps.find((st) => st.outcome === 'failed');
      lines.push(`    failed${failed ? ` at "${failed.name}"` : ''}: ${failed?.error?.message ?? s.error}`);
      if (s.artifacts) lines.push(`    logs and report kept in ${s.artifacts}`);
    }
    if (s.keptLab) lines.push(`    lab kept running: kmslab status --name ${s.keptLab}`);
  }
  const passed = report.scenarios.filter((s) => s.outcome === 'passed').length;
  const skippedCount = report.scenarios.filter((s) => s.outcome === 'skipped').length;
  lines.push(
    '',
    `${passed}/${report.scenarios.length} scenarios passed${skippedCount ? `, ${skippedCount} skipped` : ''} in ${secs(report.durationMs)} on the ${report.backend} backend`,
  );
  return lines.join('\n');
}
