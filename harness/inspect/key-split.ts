import type { RangeSource } from './etcd-scan.js';

/** KeyRange is the keys from `start` (included) to `end` (excluded); an `end` of "\0" is the end of the keyspace. */
export interface KeyRange {
  start: Buffer;
  end: Buffer;
}

/** A split is good enough when each side holds at least this share of the keys. */
const BALANCED = 0.3;
/** Each side must keep at least this share, or the range is not split at all. */
const USABLE = 0.1;
/**
 * Probes per split point: rounds of two asked at once, each halving the distance between two byte strings (about
 * eight halvings a byte where the keys part). Most land past every key, nearly free for etcd (it counts nothing);
 * one inside the keys costs a count of those after it, so more at once would cost etcd more than the round trips
 * they save (in a 100,000-key test: 1.2 counts of the keys with two, 2.9 with four).
 */
const MAX_ROUNDS = 128;
const PROBES_PER_ROUND = 2;

/**
 * splitRange divides a range holding `count` keys at `revision` into at most `parts` disjoint ranges, in key order,
 * whose union is exactly the range: split points are byte strings, so no key can fall between two ranges or into
 * both. Ranges of fewer than `minKeys` keys are not split. Each split point is found by bisection between the
 * range's start and end, a probe a one-key Range that returns the first key at or after the probe and how many
 * keys lie from it to the end: a probe past every key costs etcd almost nothing, one before the keys jumps to the
 * first of them, so etcd counts the keys a few times at most.
 */
export async function splitRange(
  source: RangeSource,
  range: KeyRange & { count: number },
  revision: bigint,
  parts: number,
  minKeys: number,
): Promise<KeyRange[]> {
  if (parts < 2 || range.count < 2 * minKeys) return [{ start: range.start, end: range.end }];
  const split = await splitPoint(source, range, revision);
  if (!split) return [{ start: range.start, end: range.end }];
  const leftParts = Math.ceil(parts / 2);
  const [left, right] = await Promise.all([
    splitRange(
      source,
      { start: range.start, end: split.at, count: range.count - split.right },
      revision,
      leftParts,
      minKeys,
    ),
    splitRange(source, { start: split.at, end: range.end, count: split.right }, revision, parts - leftParts, minKeys),
  ]);
  return [...left, ...right];
}

// A byte string inside the range with about half its keys at or after it, and how many those are. Each round asks
// at once at the midpoint between the bounds and the midpoint below that; the lowest probe with at most half the
// keys after it becomes the upper bound, the first key found by the probe below it the lower one.
async function splitPoint(
  source: RangeSource,
  range: KeyRange & { count: number },
  revision: bigint,
): Promise<{ at: Buffer; right: number } | undefined> {
  let low = range.start;
  let high = range.end;
  let best: { at: Buffer; right: number } | undefined;
  const balance = (right: number) => Math.min(right, range.count - right) / range.count;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const points: Buffer[] = [];
    for (let at = midKey(low, high); at && points.length < PROBES_PER_ROUND; at = midKey(low, at)) points.push(at);
    if (points.length === 0) break;
    // Descending keys, so the counts after them ascend.
    const found = await Promise.all(
      points.map(async (at) => {
        const res = await source.range({ key: at, rangeEnd: range.end, limit: 1, revision });
        return { at, right: res.count, first: res.kvs[0]?.key };
      }),
    );
    for (const f of found) if (!best || balance(f.right) > balance(best.right)) best = { at: f.at, right: f.right };
    if (balance(best!.right) >= BALANCED) break;
    const past = found.findLastIndex((f) => f.right * 2 <= range.count);
    if (past >= 0) high = found[past]!.at;
    const before = found[past + 1];
    // Most keys lie at or after that probe: the point is further on, past the first key it found (none before it).
    if (before?.first) low = Buffer.from(before.first);
  }
  return best && balance(best.right) >= USABLE ? best : undefined;
}

const isKeyspaceEnd = (key: Buffer) => key.length === 1 && key[0] === 0;

/**
 * midKey is a byte string strictly between `low` and `high` (`high` "\0": the end of the keyspace), about halfway
 * when both are read as base-256 fractions; undefined when no byte string lies between them.
 */
export function midKey(low: Buffer, high: Buffer): Buffer | undefined {
  const toEnd = isKeyspaceEnd(high);
  const n = Math.max(low.length, toEnd ? 0 : high.length) + 1;
  const number = (key: Buffer) => {
    let v = 0n;
    for (let i = 0; i < n; i++) v = (v << 8n) | BigInt(key[i] ?? 0);
    return v;
  };
  let mid = (number(low) + (toEnd ? 1n << BigInt(8 * n) : number(high))) >> 1n;
  const bytes = Buffer.alloc(n);
  for (let i = n - 1; i >= 0; i--) {
    bytes[i] = Number(mid & 0xffn);
    mid >>= 8n;
  }
  // Trailing zero bytes would make a longer key than the fraction needs (and "a\0" sorts after "a").
  let length = n;
  while (length > 0 && bytes[length - 1] === 0) length--;
  const key = bytes.subarray(0, length);
  return key.compare(low) > 0 && (toEnd || key.compare(high) < 0) ? Buffer.from(key) : undefined;
}
