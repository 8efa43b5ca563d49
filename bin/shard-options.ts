import type { Command } from '@commander-js/extra-typings';
import { parseShard, type Shard } from '../harness/shards/shard.js';
import type { Cell, CellCommand } from '../harness/shards/cell.js';
import type { ShardPlan } from '../harness/shards/shard-plan.js';
import { printJson, writeReport } from './output.js';

/** shardOptions adds --shard, --list-cells and --result to a command whose work is made of cells. */
export function shardOptions<C extends Command>(command: C): C {
  return command
    .option(
      '--shard <i/n>',
      'run only shard i of n (1 ≤ i ≤ n ≤ 256): cells dealt out by a stable hash, the same on every machine; writes a result file for kmslab merge (--result)',
    )
    .option(
      '--list-cells',
      "print the cells (units of work, with stable ids) and exit without running: all of them, or --shard's; with --json FILE (- for stdout) as JSON",
    )
    .option(
      '--result <file>',
      'write the mergeable result file (default with --shard: kmslab-<command>-shard-<i>-of-<n>.json)',
    ) as C;
}

export interface ShardFlags {
  shard?: string;
  listCells?: boolean;
  result?: string;
  json?: string;
}

/** sharding says whether the command was asked for cells: a shard, a list of cells or a result file. */
export const sharding = (o: ShardFlags): boolean => Boolean(o.shard || o.listCells || o.result);

/**
 * shardPlan lists the run's cells and keeps the shard's. With --list-cells it prints them (or writes --json) and
 * returns undefined: the caller stops there.
 */
export async function shardPlan(
  o: ShardFlags,
  command: CellCommand,
  cells: Cell[],
  settings: Record<string, unknown>,
): Promise<ShardPlan | undefined> {
  const shard: Shard | undefined = o.shard ? parseShard(o.shard) : undefined;
  const { planShard, shardIndexes, cellId } = await import('../harness/shards/index.js');
  const plan = planShard(command, cells, settings, shard);
  if (!o.listCells) return plan;
  const of = shard ? shardIndexes(plan.spec.cells, shard.count) : undefined;
  const listed = {
    command,
    kmslabVersion: plan.kmslabVersion,
    specHash: plan.specHash,
    ...(shard ? { shard } : {}),
    count: plan.cells.length,
    cells: plan.cells.map((c) => ({ id: cellId(c), ...c, ...(of ? { shard: of.get(cellId(c)) } : {}) })),
  };
  if (o.json === '-') printJson(listed);
  else if (o.json) await writeReport(o.json, JSON.stringify(listed, null, 2));
  else for (const c of listed.cells) console.log(c.id);
  return undefined;
}

/** resultPath is where a shard's result goes: --result, or a name made of the command and the shard. */
export const resultPath = (o: ShardFlags, plan: ShardPlan): string | undefined =>
  o.result ??
  (o.shard ? `kmslab-${plan.spec.command}-shard-${plan.shard.index}-of-${plan.shard.count}.json` : undefined);

/** writeShardResult writes the shard's mergeable result, when one is asked for. */
export async function writeShardResult(
  o: ShardFlags,
  plan: ShardPlan,
  ran: Parameters<typeof import('../harness/shards/index.js').shardFile>[1],
): Promise<void> {
  const path = resultPath(o, plan);
  if (!path) return;
  const { shardFile } = await import('../harness/shards/index.js');
  await writeReport(path, JSON.stringify(shardFile(plan, ran)));
}
