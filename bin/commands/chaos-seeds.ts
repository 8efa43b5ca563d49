import { shellQuote } from '../../harness/common/shell-quote.js';
import { KmslabError } from '../../harness/common/errors.js';
import { cellId, k8sLabel, parseSeedRange, pluginLabel, type ShardPlan } from '../../harness/shards/index.js';
import type { ChaosReport, ChaosSeedResult } from '../../chaos/index.js';
import { say, writeReport } from '../output.js';
import { sharding, shardPlan, writeShardResult, type ShardFlags } from '../shard-options.js';

interface ChaosSeedsFlags extends ShardFlags {
  backend: string;
  seed?: string;
  seeds?: string;
  schedule?: string;
  html?: string;
  apiservers: number;
  faults?: string;
  simPlugin?: string;
}

/** seedsWanted: the run is of seeds — `--seeds A..B`, or one `--seed` as a cell (--shard, --list-cells, --result). */
export function seedsWanted(o: ChaosSeedsFlags): string[] | undefined {
  if (o.seeds === undefined && !sharding(o)) return undefined;
  if (o.seeds !== undefined && o.seed !== undefined)
    throw new KmslabError('usage', 'give --seeds A..B or one --seed, not both');
  if (o.seeds === undefined && o.seed === undefined)
    throw new KmslabError(
      'usage',
      '--shard, --list-cells and --result need the seeds, the same for every shard: --seeds A..B (or --seed S)',
    );
  if (o.schedule !== undefined)
    throw new KmslabError(
      'usage',
      "--schedule replays one run's faults: give it with --seed, not with --seeds or --shard",
    );
  if (o.html !== undefined)
    throw new KmslabError(
      'usage',
      "--html draws one seed's timeline: run that seed alone (its replay command) with --html",
    );
  return o.seeds !== undefined ? parseSeedRange(o.seeds) : [o.seed!];
}

/** chaosPlan makes the seeds' cells and the shard's; undefined once --list-cells has printed them. */
export function chaosPlan(
  o: ChaosSeedsFlags,
  seeds: string[],
  kms: { plugin?: object; cloud?: string },
  durationMs: number,
): Promise<ShardPlan | undefined> {
  return shardPlan(
    o,
    'chaos',
    seeds.map((seed) => ({
      command: 'chaos',
      unit: 'workload',
      backend: o.backend,
      k8sVersion: k8sLabel(o.backend),
      plugin: pluginLabel(kms.plugin, kms.cloud),
      seed,
    })),
    {
      durationMs,
      apiservers: o.apiservers,
      ...(o.faults !== undefined ? { faults: o.faults } : {}),
      ...(o.simPlugin !== undefined ? { simPlugin: o.simPlugin } : {}),
    },
  );
}

/**
 * runChaosSeeds runs the plan's seeds one after another — each a whole chaos run on a fresh lab — and reports
 * them as one: each anomaly with its seed and the command that replays it. Ctrl-C stops after the seed in flight;
 * the result file then says the shard was interrupted. Returns the exit code.
 */
export async function runChaosSeeds(
  o: ChaosSeedsFlags & { json?: string },
  plan: ShardPlan,
  run: (seed: string) => Promise<ChaosReport>,
  replay: (report: ChaosReport) => string,
  interrupted: () => boolean,
): Promise<number> {
  const { chaosSeedResult, chaosSeedsReport, renderChaosSeeds } = await import('../../chaos/index.js');
  const started = Date.now();
  const results: Array<{ cell: string; result: ChaosSeedResult }> = [];
  say(
    `▸ ${plan.cells.length} seed(s) of ${plan.spec.cells.length}${plan.shard.count > 1 ? ` (shard ${plan.shard.index}/${plan.shard.count})` : ''}`,
  );
  for (const cell of plan.cells) {
    if (interrupted()) break;
    let report: ChaosReport;
    try {
      report = await run(cell.seed);
    } catch (error) {
      if (interrupted()) break;
      throw error;
    }
    const mark = { passed: '✓', failed: '✗', inconclusive: '?' }[report.outcome];
    say(`${mark} seed ${shellQuote(cell.seed)}: ${report.outcome} (${Math.round(report.wallMs / 100) / 10} s)`);
    results.push({ cell: cellId(cell), result: chaosSeedResult(report, replay(report)) });
  }
  const mine = plan.cells.map(cellId);
  const report = chaosSeedsReport(
    o.backend,
    plan.cells.map((c) => c.seed),
    mine.map((id) => results.find((r) => r.cell === id)?.result),
  );
  console.log(`\n${renderChaosSeeds(report)}`);
  if (o.json) await writeReport(o.json, JSON.stringify(report, null, 2));
  await writeShardResult(o, plan, {
    startedAt: started,
    results,
    context: { backend: o.backend },
    ...(interrupted() ? { interrupted: 'SIGINT' } : {}),
  });
  return interrupted() ? 130 : report.outcome === 'passed' ? 0 : 1;
}
