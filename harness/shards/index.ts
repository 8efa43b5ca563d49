export {
  CELL_COMMANDS,
  cellId,
  seedOfCellId,
  pluginLabel,
  fingerprint,
  k8sLabel,
  type Cell,
  type CellCommand,
} from './cell.js';
export { parseShard, pickShard, shardIndexes, MAX_SHARDS, type Shard } from './shard.js';
export { parseSeedRange, MAX_SEEDS } from './seed-range.js';
export { planShard, specHash, type RunSpec, type ShardPlan } from './shard-plan.js';
export { shardFile, readShardFile, SHARD_FORMAT, SHARD_FORMAT_VERSION, type ShardFile } from './shard-file.js';
export { loadShardSet, checkShardSet, type ShardSet } from './shard-set.js';
export { shardValue } from './shard-value.js';
export { indexedJobManifest, parseShardCount, JOB_RESOURCES, type IndexedJobOptions } from './indexed-job.js';
export { runJobShard, jobShardOf } from './job-shard.js';
export { frameShardResult, readShardLog, SHARD_LOG_MARK } from './shard-log.js';
