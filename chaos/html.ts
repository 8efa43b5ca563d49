import { clockTime, esc, htmlPage } from '../scenarios/index.js';
import type { ChaosReport } from './run-chaos.js';

// One self-contained page: inline SVG and CSS, no script, nothing fetched. Long runs are drawn in time bins (one per
// pixel column), so a 24-hour sim with tens of thousands of requests stays a small file.
const WIDTH = 1150;
const LEFT = 200;
const PLOT = WIDTH - LEFT - 20;
const COLORS: Record<string, string> = {
  'kms-error': '#d62728',
  'kms-latency': '#ff7f0e',
  'kms-hang': '#8c564b',
  'healthz-lie': '#e377c2',
  'key-id-lie': '#bcbd22',
  'socket-stop': '#7f7f7f',
  'plugin-kill': '#9467bd',
  'key-rotate': '#17becf',
  'key-disable': '#b30000',
  'apiserver-restart': '#1f77b4',
  'apiservers-restart': '#08306b',
  'etcd-kill': '#2ca02c',
  'config-reload': '#6b6ecf',
};
const METHOD_COLORS: Record<string, string> = { Status: '#9ecae1', Encrypt: '#3182bd', Decrypt: '#08519c' };

/** chaosHtml renders a chaos report as a timeline page a person can look at. */
export function chaosHtml(r: ChaosReport): string {
  const end = Math.max(
    r.durationMs,
    ...r.faults.map((f) => f.healedAt),
    ...r.timeline.requests.map((q) => q[0] + q[4]),
  );
  const x = (t: number) => LEFT + (Math.max(0, Math.min(t, end)) / end) * PLOT;
  const rows: string[] = [];
  const shades: Array<{ x: number; w: number; color: string }> = []; // each fault, shaded down every lane
  let y = 30;
  const label = (text: string, at: number) =>
    rows.push(`<text x="${LEFT - 8}" y="${at}" class="label" text-anchor="end">${esc(text)}</text>`);

  // Faults as bands across the whole plot; instant faults as lines.
  label('faults', y + 14);
  for (const f of r.faults) {
    const x0 = x(f.appliedAt);
    const w = Math.max(2, x(f.healedAt) - x0);
    rows.push(
      `<rect class="fault" data-kind="${f.kind}" x="${x0.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="20" fill="${COLORS[f.kind]}"><title>${esc(`${f.kind} at ${clockTime(f.appliedAt)}, healed at ${clockTime(f.healedAt)}${f.error ? `: ${f.error}` : ''}`)}</title></rect>`,
    );
    shades.push({ x: x0, w, color: COLORS[f.kind]! });
  }
  y += 40;

  // Requests per apiserver: per time bin, the median latency (log scale) as a tick, failures as red marks on top.
  for (const a of r.apiservers) {
    label(`${a} requests`, y + 30);
    rows.push(`<rect x="${LEFT}" y="${y}" width="${PLOT}" height="50" class="lane"/>`);
    const bins = new Map<number, { ok: number[]; fail: number; info: number }>();
    for (const [t, apiserver, , outcome, ms] of r.timeline.requests) {
      if (apiserver !== a) continue;
      const b = Math.floor(x(t));
      const bin = bins.get(b) ?? { ok: [], fail: 0, info: 0 };
      if (outcome === 'ok') bin.ok.push(ms);
      else if (outcome === 'fail') bin.fail++;
      else bin.info++;
      bins.set(b, bin);
    }
    const ly = (ms: number) => y + 48 - (Math.log10(Math.max(1, ms)) / 4) * 44; // 1 ms … 10 s
    for (const [b, bin] of bins) {
      if (bin.ok.length) {
        const median = bin.ok.sort((p, q) => p - q)[Math.floor(bin.ok.length / 2)]!;
        rows.push(`<rect class="ok" x="${b}" y="${ly(median).toFixed(1)}" width="1.5" height="3" fill="#2ca02c"/>`);
      }
      if (bin.fail) rows.push(`<rect class="failed" x="${b}" y="${y}" width="1.5" height="8" fill="#d62728"/>`);
      if (bin.info) rows.push(`<rect class="info" x="${b}" y="${y + 8}" width="1.5" height="6" fill="#ff7f0e"/>`);
    }
    y += 60;
  }

  // KMS health per apiserver, as each sample found it.
  for (const a of r.apiservers) {
    label(`${a} kms health`, y + 10);
    const samples = r.timeline.health.filter((h) => h[1] === a);
    samples.forEach(([t, , ok], i) => {
      const next = samples[i + 1]?.[0] ?? t + 1;
      rows.push(
        `<rect class="${ok ? 'healthy' : 'unhealthy'}" x="${x(t).toFixed(1)}" y="${y}" width="${Math.max(1, x(next) - x(t)).toFixed(1)}" height="14" fill="${ok ? '#74c476' : '#de2d26'}"/>`,
      );
    });
    y += 24;
  }

  // KMS calls per second by method, refused calls in red, on a shared scale.
  label('KMS calls/s', y + 40);
  rows.push(`<rect x="${LEFT}" y="${y}" width="${PLOT}" height="70" class="lane"/>`);
  const perBin = new Map<string, number>();
  for (const [s, method, code, n] of r.timeline.kmsPerSecond) {
    const k = `${Math.floor(x(s * 1000))}\u0000${method}\u0000${code === 'OK' ? 'OK' : 'refused'}`;
    perBin.set(k, Math.max(perBin.get(k) ?? 0, n));
  }
  const peak = Math.max(1, ...perBin.values());
  for (const [k, n] of perBin) {
    const [b, method, code] = k.split('\u0000') as [string, string, string];
    const h = Math.max(1, (n / peak) * 66);
    rows.push(
      `<rect class="kms" data-method="${method}" x="${b}" y="${(y + 68 - h).toFixed(1)}" width="1.5" height="${h.toFixed(1)}" fill="${code === 'OK' ? METHOD_COLORS[method] : '#d62728'}"/>`,
    );
  }
  rows.push(`<text x="${LEFT + PLOT}" y="${y + 10}" class="label" text-anchor="end">peak ${peak}/s</text>`);
  y += 80;

  // Time axis.
  for (let i = 0; i <= 10; i++) {
    const t = (end * i) / 10;
    rows.push(
      `<line x1="${x(t)}" y1="24" x2="${x(t)}" y2="${y}" class="grid"/>`,
      `<text x="${x(t)}" y="${y + 14}" class="label" text-anchor="middle">${clockTime(t)}</text>`,
    );
  }
  const height = y + 24;
  const shading = shades
    .map(
      (b) =>
        `<rect x="${b.x.toFixed(1)}" y="70" width="${b.w.toFixed(1)}" height="${y - 70}" fill="${b.color}" opacity="0.08"/>`,
    )
    .join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" role="img" aria-label="chaos timeline">${shading}${rows.join('')}</svg>`;

  const mark = { holds: '✓ holds', violated: '✗ violated', undecided: '? not judged' } as const;
  const invariants = r.invariants
    .map(
      (i) =>
        `<tr class="${i.verdict}"><td${i.verdict === 'undecided' ? ' style="color:#777"' : ''}>${mark[i.verdict]}</td><td><b>${esc(i.name)}</b><br>${esc(i.claim)}${
          i.undecided ? `<br><i>${esc(i.undecided)}</i>` : ''
        }${i.measured ? `<br><small>${esc(JSON.stringify(i.measured))}</small>` : ''}${
          i.anomalies.length
            ? `<pre>${esc(
                i.anomalies
                  .slice(0, 8)
                  .map((v) => JSON.stringify(v))
                  .join('\n'),
              )}${i.anomalies.length > 8 ? `\n… ${i.anomalies.length - 8} more` : ''}</pre>`
            : ''
        }</td></tr>`,
    )
    .join('');
  const legend = Object.entries(COLORS)
    .filter(([k]) => r.faults.some((f) => f.kind === k))
    .map(([k, c]) => `<span><i style="background:${c}"></i>${k}</span>`)
    .join('');
  const o = r.operations;
  return htmlPage(
    `kmslab chaos ${r.seed}: ${r.outcome}`,
    `<h1>kmslab chaos — <span class="${r.outcome === 'inconclusive' ? 'skipped' : r.outcome}">${r.outcome}</span></h1>
<div class="meta">seed <b>${esc(r.seed)}</b> · backend ${esc(r.backend)}${r.backend === 'sim' ? ' (a model in virtual time, not a real apiserver)' : ''} · ${r.apiservers.length} apiserver(s) · ${clockTime(r.durationMs)} · ${o.writes} writes (${o.acknowledged} acknowledged, ${o.info} of unknown outcome), ${o.reads} reads, ${o.failed} failed · started ${esc(r.startedAt)}</div>
<div class="legend">${legend}<span><i style="background:#2ca02c"></i>request ok (median latency, log scale 1 ms–10 s)</span><span><i style="background:#d62728"></i>failed / refused</span><span><i style="background:#ff7f0e"></i>outcome unknown (info)</span></div>
${svg}
<table>${invariants}</table>
${r.faultsLeftOut.length ? `<p class="meta">left out: ${esc(r.faultsLeftOut.join('; '))}</p>` : ''}`,
    WIDTH,
  );
}
