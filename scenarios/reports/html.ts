import type { RunReport } from '../runner.js';
import type { StepRecord } from '../model.js';
import { clockTime, esc, htmlPage } from './html-page.js';
import { metricsLines } from './metrics-text.js';

const WIDTH = 1150;
const LEFT = 230;
const PLOT = WIDTH - LEFT - 20;
const METHOD_COLORS: Record<string, string> = { Status: '#9ecae1', Encrypt: '#3182bd', Decrypt: '#08519c' };

/**
 * runHtml renders a run as a timeline: one lane per scenario, from its own start (scenarios run in parallel, and
 * on the sim each in its own virtual time), its steps as bands in the time they took (green passed, red failed),
 * and under each step the KMS calls it caused, by method, refused ones red.
 */
export function runHtml(r: RunReport): string {
  const end = Math.max(1, ...r.scenarios.map((s) => s.durationMs));
  const x = (ms: number) => LEFT + (Math.max(0, Math.min(ms, end)) / end) * PLOT;
  const rows: string[] = [];
  let y = 20;
  for (const s of r.scenarios) {
    rows.push(`<text x="${LEFT - 8}" y="${y + 16}" class="label" text-anchor="end">${esc(s.name)}</text>`);
    if (s.outcome === 'skipped') {
      rows.push(`<text x="${LEFT}" y="${y + 16}" class="label">skipped: ${esc(s.skipped ?? '')}</text>`);
      y += 30;
      continue;
    }
    rows.push(`<rect x="${LEFT}" y="${y}" width="${PLOT}" height="44" class="lane"/>`);
    const t0 = Date.parse(s.startedAt);
    for (const step of s.steps) {
      const from = Date.parse(step.startedAt) - t0;
      const x0 = x(from);
      const w = Math.max(2, x(from + step.durationMs) - x0);
      const fill = step.outcome === 'passed' ? '#74c476' : '#de2d26';
      rows.push(
        `<rect class="step ${step.outcome}" x="${x0.toFixed(1)}" y="${y + 2}" width="${w.toFixed(1)}" height="20" fill="${fill}" stroke="#fff" stroke-width="0.5"><title>${esc(
          [
            `${step.name} — ${step.outcome} in ${clockTime(step.durationMs)}${step.error ? `: ${step.error.message}` : ''}`,
            ...metricsLines(step.evidence),
          ].join('\n'),
        )}</title></rect>`,
      );
      // KMS calls of the step, stacked by method, on a log scale so a storm and a single Encrypt both show.
      const calls = (step.evidence.kmsCalls ?? {}) as Record<string, Record<string, number>>;
      let stack = y + 42;
      for (const [method, codes] of Object.entries(calls)) {
        for (const [code, n] of Object.entries(codes)) {
          if (typeof n !== 'number') continue;
          const h = Math.min(18, 3 + 4 * Math.log10(n));
          stack -= h;
          rows.push(
            `<rect class="kms" x="${x0.toFixed(1)}" y="${stack.toFixed(1)}" width="${Math.max(2, Math.min(w, 8)).toFixed(1)}" height="${h.toFixed(1)}" fill="${code === 'OK' ? METHOD_COLORS[method] : '#d62728'}"><title>${esc(`${method} ${code}: ${n}`)}</title></rect>`,
          );
        }
      }
    }
    y += 52;
  }
  for (let i = 0; i <= 10; i++) {
    const t = (end * i) / 10;
    rows.push(
      `<line x1="${x(t)}" y1="14" x2="${x(t)}" y2="${y}" class="grid"/>`,
      `<text x="${x(t)}" y="${y + 14}" class="label" text-anchor="middle">${clockTime(t)}</text>`,
    );
  }
  rows.push(`<text x="${LEFT + PLOT}" y="${y + 28}" class="label" text-anchor="end">time since each scenario began</text>`);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${y + 34}" role="img" aria-label="run timeline">${rows.join('')}</svg>`;
  const table = r.scenarios
    .map((s) => {
      const failed = s.steps.find((st) => st.outcome === 'failed');
      const detail =
        s.outcome === 'passed' ? s.proves : s.outcome === 'skipped' ? s.skipped : `at "${failed?.name ?? '—'}": ${failed?.error?.message ?? s.error}`;
      return `<tr class="${s.outcome}"><td>${s.outcome}</td><td><b>${esc(s.name)}</b> (${clockTime(s.durationMs)})<br>${esc(detail ?? '')}${metricsTable(s.steps)}</td></tr>`;
    })
    .join('');
  const passed = r.scenarios.filter((s) => s.outcome === 'passed').length;
  return htmlPage(
    `kmslab run: ${r.outcome}`,
    `<h1>kmslab run — <span class="${r.outcome}">${r.outcome}</span></h1>
<div class="meta">${passed}/${r.scenarios.length} scenarios passed · backend ${esc(r.backend)}${r.backend === 'sim' ? ' (a model in virtual time, not a real apiserver)' : ''} · ${clockTime(r.durationMs)} · started ${esc(r.startedAt)}</div>
<div class="legend"><span><i style="background:#74c476"></i>step passed</span><span><i style="background:#de2d26"></i>step failed / KMS call refused</span>${Object.entries(METHOD_COLORS)
      .map(([m, c]) => `<span><i style="background:${c}"></i>${m} calls (log scale)</span>`)
      .join('')}</div>
${svg}
<table>${table}</table>`,
    WIDTH,
  );
}

// Each step's encryption-metric deltas, per apiserver, folded away under the scenario's row.
function metricsTable(steps: StepRecord[]): string {
  const rows = steps
    .map((st) => [st.name, metricsLines(st.evidence)] as const)
    .filter(([, lines]) => lines.length > 0)
    .map(([name, lines]) => `<tr><td>${esc(name)}</td><td>${lines.map(esc).join('<br>')}</td></tr>`);
  return rows.length
    ? `<details class="metrics"><summary>apiserver encryption metrics, step by step</summary><table>${rows.join('')}</table></details>`
    : '';
}
