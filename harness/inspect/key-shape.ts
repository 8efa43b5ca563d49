/**
 * KeyShape numbers keys the way a page of them is spelled, so that "n keys further on" can be guessed. Raw bytes are
 * a poor scale: names use a few byte values (digits, lower-case letters), and a step in raw bytes lands in the holes
 * between them (after secret-000199 comes secret-000200, not secret-0001\xd5). So each byte position after the
 * page's common prefix counts only the values the page used there, widened to whole classes (digits, letters):
 * secret-000000…000199 becomes a mixed-radix number of 10 × 10 × 10 places, and secret-000359 is 160 places after
 * secret-000199.
 *
 * Keys past the last place are outside the page's subtree.
 */
export class KeyShape {
  private constructor(
    /** The common prefix of the page's keys. */
    readonly prefix: Buffer,
    /** The values used at the first position after the prefix, then at each lower position (sorted). */
    private readonly top: number[],
    private readonly lower: number[][],
  ) {
    let w = 1;
    for (let i = lower.length - 1; i >= 0; i--) {
      this.weights[i] = w;
      w *= lower[i]!.length;
    }
    this.topWeight = w;
  }

  /** Places per step at each lower position, and at the top position. */
  private readonly weights: number[] = [];
  private readonly topWeight: number;

  /** of learns the shape of a page's keys (sorted, two or more). */
  static of(keys: Buffer[]): KeyShape {
    const first = keys[0]!;
    const last = keys[keys.length - 1]!;
    let q = 0;
    while (q < first.length && q < last.length && first[q] === last[q]) q++;
    // A sample is enough to learn the values used at each position, and keeps a 50,000-key page cheap.
    const step = Math.max(1, Math.floor(keys.length / SAMPLE));
    const sample = keys.filter((_, i) => i % step === 0);
    sample.push(last);
    const lower: number[][] = [];
    let places = 1;
    // Lower positions while the number stays exact in a double.
    for (let i = q + 1; i < q + 1 + MAX_LOWER; i++) {
      const a = alphabet(sample, i);
      if ((a.length === 1 && a[0] === ABSENT) || places * a.length > 2 ** 40) break;
      lower.push(a);
      places *= a.length;
    }
    return new KeyShape(Buffer.from(first.subarray(0, q)), alphabet(sample, q), lower);
  }

  /** place numbers a key that starts with the prefix (bytes the page never used count as the used value below them). */
  place(key: Buffer): number | undefined {
    const q = this.prefix.length;
    if (key.length < q || key.compare(this.prefix, 0, q, 0, q) !== 0) return undefined;
    let place = floorRank(this.top, key[q] ?? ABSENT) * this.topWeight;
    for (let i = 0; i < this.lower.length; i++)
      place += floorRank(this.lower[i]!, key[q + 1 + i] ?? ABSENT) * this.weights[i]!;
    return place;
  }

  /** key spells a place as a key, or returns undefined past the last place. */
  key(place: number): Buffer | undefined {
    const topRank = Math.floor(place / this.topWeight);
    if (topRank >= this.top.length) return undefined;
    const top = this.top[topRank]!;
    const bytes = [...this.prefix];
    if (top === ABSENT) return Buffer.from(bytes);
    bytes.push(top);
    let rest = place - topRank * this.topWeight;
    for (let i = 0; i < this.lower.length; i++) {
      const r = Math.floor(rest / this.weights[i]!);
      rest -= r * this.weights[i]!;
      const value = this.lower[i]![r]!;
      if (value === ABSENT) break;
      bytes.push(value);
    }
    return Buffer.from(bytes);
  }
}

/** Stands for "the key has ended" at a position: it sorts before every byte. */
const ABSENT = -1;
const MAX_LOWER = 16;
const SAMPLE = 4096;

// The values used at a position, widened to whole classes (a page's keys use 0 and 1 where the next use 2 … 9).
function alphabet(keys: Buffer[], position: number): number[] {
  const seen = new Set<number>();
  for (const k of keys) seen.add(k[position] ?? ABSENT);
  for (const [from, to] of CLASSES) {
    if (![...seen].some((v) => v >= from && v <= to)) continue;
    for (let v = from; v <= to; v++) seen.add(v);
  }
  return [...seen].sort((a, b) => a - b);
}

/** Digits, lower-case and upper-case letters: the runs of byte values names are spelled in. */
const CLASSES: Array<[number, number]> = [
  [0x30, 0x39],
  [0x61, 0x7a],
  [0x41, 0x5a],
];

// The rank of the largest used value at or below v (0 below all of them).
function floorRank(values: number[], v: number): number {
  let lo = 0;
  let hi = values.length - 1;
  if (v < values[0]!) return 0;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (values[mid]! <= v) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
