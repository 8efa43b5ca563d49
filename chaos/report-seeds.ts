import { z } from 'zod';
import { shardValue } from '../harness/shards/index.js';
import { printable } from '../harness/common/printable.js';
import type { Anomaly } from './history/index.js';
import type { ChaosReport } from './run-chaos.js';

/**
 * ChaosSeedResult is one seed's chaos run, as a seeds run keeps it: the report without its timeline (a day of
 * virtual time has tens of thousands of requests; `kmslab chaos --seed … --html` draws one seed's), and the
 * shell-quoted command that runs that seed again (byte for byte on the sim).
 */
export interface ChaosSeedResult {
  seed: string;
  replay: string;
  report: Omit<ChaosReport, 'timeline'>;
}

/** ChaosSeedsReport is a run of many seeds: each seed's result, and every anomaly with its seed and replay command. */
export interface ChaosSeedsReport {
  backend: string;
  /** `failed` when a seed violated an invariant or did not run; `inconclusive` when one could not be judged. */
  outcome: ChaosReport['outcome'];
  counts: Record<ChaosReport['outcome'] | 'not-run', number>;
  seeds: ChaosSeedResult[];
  /** Seeds the run (a shard of it) was interrupted before. */
  notRun: string[];
  anomalies: Array<{ seed: string; invariant: string; anomaly: Anomaly; replay: string }>;
  undecided: Array<{ seed: string; invariant: string; why: string; replay: string }>;
}

/** chaosSeedResult keeps what a seeds run needs of one seed's report. */
export function chaosSeedResult(report: ChaosReport, replay: string): ChaosSeedResult {
  const { timeline: _timeline, ...rest } = report;
  return { seed: report.seed, replay, report: rest };
}

/**
 * chaosSeedsReport adds seeds' results up as one run of them: a seed that did not run (`undefined`, with the seed
 * named in `seeds`) fails it, as an interrupted single run fails.
 */
export function chaosSeedsReport(
  backend: string,
  seeds: string[],
  results: Array<ChaosSeedResult | undefined>,
): ChaosSeedsReport {
  const ran = results.filter((r) => r !== undefined);
  const notRun = seeds.filter((_, i) => results[i] === undefined);
  const of = (o: ChaosReport['outcome']) => ran.filter((r) => r.report.outcome === o).length;
  const counts = {
    passed: of('passed'),
    failed: of('failed'),
    inconclusive: of('inconclusive'),
    'not-run': notRun.length,
  };
  return {
    backend,
    outcome: counts.failed || counts['not-run'] ? 'failed' : counts.inconclusive ? 'inconclusive' : 'passed',
    counts,
    seeds: ran,
    notRun,
    anomalies: ran.flatMap((r) =>
      r.report.invariants.flatMap((i) =>
        i.anomalies.map((anomaly) => ({ seed: r.seed, invariant: i.name, anomaly, replay: r.replay })),
      ),
    ),
    undecided: ran.flatMap((r) =>
      r.report.invariants.flatMap((i) =>
        i.undecided ? [{ seed: r.seed, invariant: i.name, why: i.undecided, replay: r.replay }] : [],
      ),
    ),
  };
}

/** renderChaosSeeds is the summary a person reads: counts, then each anomaly with its seed and replay command. */
export function renderChaosSeeds(r: ChaosSeedsReport): string {
  const head = { passed: '✓ chaos passed', failed: '✗ chaos failed', inconclusive: '? chaos inconclusive' }[r.outcome];
  const c = r.counts;
  const lines = [
    `${head} on ${r.backend}: ${r.seeds.length + r.notRun.length} seeds — ${c.passed} passed, ${c.failed} failed, ${c.inconclusive} inconclusive${c['not-run'] ? `, ${c['not-run']} not run (interrupted)` : ''}`,
  ];
  const shown = 50;
  for (const a of r.anomalies.slice(0, shown)) {
    lines.push(`  ✗ seed ${printable(a.seed, 40)}: ${a.invariant} ${printable(JSON.stringify(a.anomaly), 300)}`);
    lines.push(`      replay: ${a.replay}`);
  }
  if (r.anomalies.length > shown) lines.push(`  … ${r.anomalies.length - shown} more anomalies (--json lists all)`);
  for (const u of r.undecided.slice(0, shown)) {
    lines.push(`  ? seed ${printable(u.seed, 40)}: ${u.invariant} not judged: ${printable(u.why, 300)}`);
    lines.push(`      replay: ${u.replay}`);
  }
  if (r.notRun.length)
    lines.push(
      `  not run: seeds ${r.notRun
        .slice(0, 20)
        .map((s) => printable(s, 40))
        .join(', ')}`,
    );
  return lines.join('\n');
}

const seedSchema = z.looseObject({
  seed: z.string(),
  replay: z.string(),
  report: z.looseObject({
    seed: z.string(),
    backend: z.string(),
    outcome: z.enum(['passed', 'failed', 'inconclusive']),
    invariants: z.array(
      z.looseObject({
        name: z.string(),
        verdict: z.enum(['holds', 'violated', 'undecided']),
        anomalies: z.array(z.looseObject({ name: z.string() })),
        undecided: z.string().optional(),
      }),
    ),
  }),
});

/** chaosSeedOf checks a seed's result read from a shard file; the error says which field is wrong. */
export function chaosSeedOf(value: unknown): ChaosSeedResult {
  return shardValue(seedSchema, value, 'its seed result') as unknown as ChaosSeedResult;
}
