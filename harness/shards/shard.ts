import { createHash } from 'node:crypto';
import { KmslabError } from '../common/errors.js';

/** Shard is shard `index` of `count` (1-based). */
export interface Shard {
  index: number;
  count: number;
}

/** The most shards a run is split into: a GitHub Actions matrix holds at most 256 jobs. */
export const MAX_SHARDS = 256;

/** parseShard reads `--shard i/n`; anything but whole numbers with 1 ≤ i ≤ n ≤ 256 is a usage error. */
export function parseShard(text: string, flag = '--shard'): Shard {
  const m = /^\s*(\d{1,4})\s*\/\s*(\d{1,4})\s*$/.exec(text);
  const index = Number(m?.[1]);
  const count = Number(m?.[2]);
  if (!m || index < 1 || count < 1 || index > count || count > MAX_SHARDS) {
    const why = !m
      ? 'is not i/n'
      : count > MAX_SHARDS
        ? `splits into more than ${MAX_SHARDS} shards`
        : index < 1 || count < 1
          ? 'counts from 1'
          : `names shard ${index} of only ${count}`;
    throw new KmslabError(
      'usage',
      `${flag} "${text.slice(0, 40)}" ${why}: give shard i of n as i/n with 1 ≤ i ≤ n ≤ ${MAX_SHARDS} (e.g. ${flag} 2/4)`,
    );
  }
  return { index, count };
}

/**
 * shardIndexes assigns each id its shard (1-based): ids are ranked by the SHA-256 of their text and dealt out in
 * turn, so every machine that lists the same cells makes the same shards, and shard sizes differ by one at most.
 */
export function shardIndexes(ids: readonly string[], count: number): Map<string, number> {
  const seen = new Set<string>();
  for (const id of ids) {
    if (seen.has(id)) throw new KmslabError('usage', `cell ${id} is listed twice: name each scenario or seed once`);
    seen.add(id);
  }
  const ranked = ids
    .map((id) => ({ id, hash: createHash('sha256').update(id).digest('hex') }))
    .sort((a, b) => (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0));
  return new Map(ranked.map(({ id }, rank) => [id, (rank % count) + 1]));
}

/** pickShard keeps the items of one shard, in their order. */
export function pickShard<T>(items: readonly T[], idOf: (item: T) => string, shard: Shard): T[] {
  const of = shardIndexes(items.map(idOf), shard.count);
  return items.filter((item) => of.get(idOf(item)) === shard.index);
}
