import { KeyShape } from './key-shape.js';

/**
 * Range ends for a paged scan. etcd counts every key between a request's start and its range end, whatever the
 * limit (mvcc treeIndex.Revisions walks the whole range for RangeResponse.count), so paging a prefix with the
 * prefix's own end costs O(pages × keys). A scan that bounds each request by a nearby end pays only for the keys
 * near it. Any end is correct (the scan resumes from it); a good guess only makes the scan cheaper.
 *
 * Each guess starts from the latest page. Within that page's subtree (the keys sharing its common prefix) it steps
 * through the places of the page's key shape (`key-shape.ts`) as many as a page's worth of keys took there. Past
 * the subtree it steps over sibling values where the keys part, a page's worth of them, more after a window that
 * comes back short (a gap, as between namespaces); past the last value a window runs to the end of the enclosing
 * subtree, and the steps start small again.
 */

/** Windows aim a little short of a page, so a page usually reads a whole window. */
const MARGIN = 0.8;
/** Growth of the next window after one came back less than half full. */
const STRETCH = 16;
/** An empty window says little about where keys resume: grow faster. */
const EMPTY_STRETCH = 256;
const MAX_STRETCH = 2 ** 64;
const SLASH = 0x2f;

/** Window is a guessed range end, and whether it is the end of a subtree (a short window there is no sign of a gap). */
export interface Window {
  end: Buffer;
  toSubtreeEnd: boolean;
  /** For a window that climbed out of a gap: whether it ran to the end of a directory (a prefix ending in "/"). */
  climb?: { toDirectoryEnd: boolean };
}

/** WindowGuesser proposes the range end of each request of a scan that ends at `end`. */
export class WindowGuesser {
  /** The latest page of two or more keys: its first and last key, size and shape. */
  private basis: { first: Buffer; last: Buffer; keys: number; shape: KeyShape; perKey: number } | undefined;
  private stretch = 1;
  /** Byte positions the next climb out of a gap goes up: doubled after each empty climb, so long keys cost few. */
  private climbLevels = 1;
  private lastKey: Buffer | undefined;

  constructor(private readonly end: Buffer) {}

  /**
   * saw records a page's keys (sorted): the latest page is what guesses extrapolate from. A page of one key is
   * paired with the last key before it.
   */
  saw(keys: Buffer[]): void {
    if (keys.length === 0) return;
    const page = keys.length >= 2 || !this.lastKey ? keys : [this.lastKey, keys[0]!];
    // Copies: the page's keys are views into its whole response buffer.
    this.lastKey = Buffer.from(keys[keys.length - 1]!);
    if (page.length < 2) return;
    const shape = KeyShape.of(page);
    const first = Buffer.from(page[0]!);
    const perKey = (shape.place(this.lastKey)! - shape.place(first)!) / (page.length - 1);
    this.basis = { first, last: this.lastKey, keys: page.length, shape, perKey };
  }

  /**
   * read records how a window's request came back: full (`more`), or ended with `keys` keys. One that ended less
   * than half full makes the next windows larger; any fuller one resets them.
   */
  read(keys: number, more: boolean, pageSize: number, window: Window): void {
    const grown = this.stretch * (keys === 0 ? EMPTY_STRETCH : STRETCH);
    // A window to the end of a subtree is expected to be short: the next one starts small.
    const full = more || keys >= (pageSize * MARGIN) / 2 || window.toSubtreeEnd;
    this.stretch = full ? 1 : Math.min(grown, MAX_STRETCH);
    // Climbs double while they find nothing, and start again at one position in a new directory or after keys.
    if (keys > 0 || window.climb?.toDirectoryEnd) this.climbLevels = 1;
    else if (window.climb) this.climbLevels *= 2;
  }

  /** steady is true while windows find keys: guesses can then run ahead of what the last window found. */
  get steady(): boolean {
    return this.stretch === 1 && this.climbLevels === 1;
  }

  /** next is the end of a window that starts at `from` and should hold a little fewer than `pageSize` keys. */
  next(from: Buffer, pageSize: number): Window {
    const basis = this.basis;
    if (!basis) return { end: this.end, toSubtreeEnd: false };
    const wanted = Math.ceil(pageSize * MARGIN) * this.stretch;
    // Within the page's subtree: step through the values its keys use.
    const place = basis.shape.place(from);
    if (place !== undefined && basis.perKey > 0) {
      const guess = basis.shape.key(Math.ceil(place + Math.max(1, basis.perKey * wanted)));
      if (!guess) return this.subtreeEnd(basis.shape.prefix);
      if (guess.compare(from) > 0) return { end: earlierEnd(guess, this.end), toSubtreeEnd: false };
    }
    // Past it: step over sibling values where `from` leaves the page's keys, as many as a page's worth (the page
    // lay within one sibling, so each holds at least its keys), more after each short window; past the last value,
    // climb: run to the end of an enclosing subtree, more positions up after each empty climb, but not past the
    // directory `from` is in (its siblings are found by steps).
    const level = Math.min(commonPrefixLength(basis.first, from), from.length - 1);
    const value = from[level]! + Math.max(1, Math.floor(wanted / basis.keys));
    if (value > 0xff) {
      const directory = level > 0 ? from.lastIndexOf(SLASH, level - 1) + 1 : 0;
      const upTo = Math.max(directory, level + 1 - this.climbLevels);
      return { ...this.subtreeEnd(from.subarray(0, upTo)), climb: { toDirectoryEnd: upTo === directory && upTo > 0 } };
    }
    return {
      end: earlierEnd(Buffer.concat([from.subarray(0, level), Buffer.of(value)]), this.end),
      toSubtreeEnd: false,
    };
  }

  private subtreeEnd(prefix: Buffer): Window {
    return { end: earlierEnd(prefixEnd(prefix), this.end), toSubtreeEnd: true };
  }
}

function commonPrefixLength(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/** prefixEnd is the smallest key after every key that starts with `prefix` (etcd's range_end for a prefix). */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  // All 0xff (or empty): no key is greater; etcd reads range_end "\0" as "to the end of the keyspace".
  return Buffer.of(0);
}

const isKeyspaceEnd = (end: Buffer) => end.length === 1 && end[0] === 0;

/** earlierEnd is the earlier of two range ends, either of which may be "\0" (the end of the keyspace). */
export function earlierEnd(a: Buffer, b: Buffer): Buffer {
  if (isKeyspaceEnd(a)) return b;
  if (isKeyspaceEnd(b)) return a;
  return a.compare(b) < 0 ? a : b;
}
