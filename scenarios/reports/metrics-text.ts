import type { Evidence } from '../model.js';
import type { MetricsDelta, StepMetrics } from '../step-metrics.js';

/**
 * metricsLines says in a line per apiserver what its encryption metrics did during a step (the step's
 * `metrics` evidence): transformations by direction, prefix and outcome, key_id hash uses, the DEK source cache,
 * the last Status key_id. Hashes are cut to 12 characters; nothing that did not move is listed.
 */
export function metricsLines(evidence: Evidence): string[] {
  const metrics = evidence.metrics as StepMetrics | undefined;
  if (!metrics || typeof metrics !== 'object') return [];
  return Object.entries(metrics).map(([name, d]) =>
    'unavailable' in d ? `${name}: metrics unavailable (${d.unavailable})` : `${name}: ${describe(d as MetricsDelta)}`,
  );
}

function describe(d: MetricsDelta): string {
  const parts: string[] = [];
  if (d.restarted) parts.push('restarted (counts since its start)');
  for (const [k, n] of Object.entries(d.transformations)) parts.push(`${short(k)} ${signed(n)}`);
  for (const [k, n] of Object.entries(d.keyIdHashes)) parts.push(`key_id ${short(k)} ${signed(n)}`);
  for (const [p, c] of Object.entries(d.dekSourceCacheSize)) {
    if (c.before !== c.after) parts.push(`DEK cache ${p} ${c.before ?? '?'}→${c.after}`);
    else parts.push(`DEK cache ${p} ${c.after}`);
  }
  for (const [p, h] of Object.entries(d.statusKeyIdHash)) parts.push(`Status key_id ${p} ${short(h)}`);
  return parts.length ? parts.join('; ') : 'nothing moved';
}

const signed = (n: number) => (n > 0 ? `+${n}` : String(n));
// sha256:<64 hex> → sha256:<12 hex>…; the full hashes stay in the JSON report.
const short = (text: string) => text.replace(/sha256:([0-9a-f]{12})[0-9a-f]{52}/g, 'sha256:$1…');
