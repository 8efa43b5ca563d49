import { kmslabVersion } from '../common/kmslab-version.js';
import { cellId, fingerprint, type Cell, type CellCommand } from './cell.js';
import { pickShard, type Shard } from './shard.js';

/**
 * RunSpec is everything that defines a run besides its shard: the command, every cell in order, and the settings
 * that change what a cell does (Secrets per scenario, durations, hashes of the user's files…). Output paths,
 * parallelism and the shard itself are not part of it.
 */
export interface RunSpec {
  command: CellCommand;
  cells: string[];
  settings: Record<string, unknown>;
}

/** ShardPlan is what one shard of a run does: the spec, its hash, and the cells of this shard. */
export interface ShardPlan {
  kmslabVersion: string;
  spec: RunSpec;
  specHash: string;
  shard: Shard;
  cells: Cell[];
}

/**
 * planShard lists a run's cells and keeps those of `shard` (all of them without one: shard 1/1). Settings are
 * hashed as given; leave out what must not be written down (plugin commands: pass their pluginLabel instead).
 */
export function planShard(
  command: CellCommand,
  cells: Cell[],
  settings: Record<string, unknown>,
  shard: Shard = { index: 1, count: 1 },
): ShardPlan {
  const spec: RunSpec = { command, cells: cells.map(cellId), settings };
  return {
    kmslabVersion: kmslabVersion(),
    spec,
    specHash: specHash(spec),
    shard,
    cells: pickShard(cells, cellId, shard),
  };
}

/** specHash is `sha256:<hex>` of the spec's canonical JSON. */
export const specHash = (spec: RunSpec): string => `sha256:${fingerprint(spec)}`;
