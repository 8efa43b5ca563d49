import type { RangeRequest, RangeResponse } from './range-codec.js';
import { earlierEnd, prefixEnd, WindowGuesser, type Window } from './scan-window.js';

/** RangeSource answers etcd RangeRequests: an `EtcdRange`, or `etcd3Range` over an etcd3 client. */
export interface RangeSource {
  range(request: RangeRequest): Promise<RangeResponse>;
}

export interface EtcdEntry {
  /** The key as UTF-8 text: bytes that are not UTF-8 read as U+FFFD, so only `rawKey` names the key exactly. */
  key: string;
  /** The key's bytes: a view into the page's response buffer, like `value`. */
  rawKey: Buffer;
  /** A view into the page's response buffer: copy it to keep it past the page. */
  value: Buffer;
  modRevision: string;
}

/** EtcdPage is one range response: its entries and the revision the whole scan reads at. */
export interface EtcdPage {
  revision: string;
  entries: EtcdEntry[];
}

export interface ScanOptions {
  /**
   * Keys per range request. Default: 1000 for the first page, then as many as fit in about `PAGE_BYTES` at the
   * sizes seen so far (at most 50,000). A request refused as too large for one message is retried with half its
   * limit, and no later request asks for more.
   */
  pageSize?: number;
  /** Read at this revision (default: the revision of the first page, so the scan is one consistent snapshot). */
  revision?: string;
}

/** Requests in flight while a page is being read, so etcd always has one to serve. */
const IN_FLIGHT = 2;

// Per page: small enough to keep memory flat (two pages in flight, one in hand) and well under the 32 MiB message
// limit; large enough that per-request costs stay small.
export const PAGE_BYTES = 12 * 1024 * 1024;
const MAX_PAGE = 50_000;

/**
 * scanPrefix reads every key under a prefix in pages (never one giant range: a single response over the gRPC
 * message limit is refused), in key order, all at one revision so the scan is a consistent snapshot. Each request
 * after the first is bounded by a guessed end (`scan-window.ts`), so etcd counts only the keys near a page, not all
 * that remain. Ranges are disjoint and in order, so the next one is asked for before a page is handed out (and
 * before the current one has answered): etcd works while the caller reads.
 */
export async function* scanPrefix(
  source: RangeSource,
  prefix: string,
  options: ScanOptions = {},
): AsyncGenerator<EtcdPage> {
  const fixed = options.pageSize !== undefined;
  let pageSize = options.pageSize ?? 1000;
  // The most keys a request may ask for: lowered for good when one was too large for a message.
  let cap = Infinity;
  let revision = options.revision ? BigInt(options.revision) : 0n;
  const end = prefixEnd(Buffer.from(prefix));
  // etcd refuses an empty key; "\0" with range end "\0" is its own spelling of "every key".
  const start = prefix === '' ? Buffer.of(0) : Buffer.from(prefix);
  const guesser = new WindowGuesser(end);
  const fetch = async (key: Buffer, rangeEnd: Buffer): Promise<RangeResponse> => {
    for (;;) {
      const limit = Math.min(pageSize, cap);
      try {
        return await source.range({ key, rangeEnd, limit, revision });
      } catch (error) {
        if (limit > 1 && /RESOURCE_EXHAUSTED|larger than max|message length/i.test(String((error as Error).message))) {
          // Halved from this request's own limit: others in flight may have halved the shared size already.
          cap = Math.min(cap, Math.floor(limit / 2));
          pageSize = Math.min(pageSize, cap);
          continue;
        }
        throw error;
      }
    }
  };
  // Key ranges still to read, in order, each with its guess; the last runs to the prefix's end until a guess cuts it.
  const queue: Array<{ start: Buffer; window: Window; first?: Promise<RangeResponse> }> = [];
  const fill = () => {
    for (let i = 0; i < IN_FLIGHT && i < queue.length; i++) {
      const range = queue[i]!;
      if (range.first) continue;
      // Bound the range by a fresh guess; what lies past it stays queued, to be cut in its turn.
      const guess = guesser.next(range.start, pageSize);
      // Ahead of the range being read, only a guess made in step with the keys: in a gap, each guess depends on
      // what the one before found.
      if (i > 0 && (!guesser.steady || guess.climb)) break;
      const cut = earlierEnd(guess.end, range.window.end);
      if (cut !== range.window.end) {
        queue.splice(i + 1, 0, { start: cut, window: range.window });
        range.window = guess;
      }
      range.first = fetch(range.start, range.window.end);
      // A failure surfaces when the range is read; until then nobody listens.
      range.first.catch(() => undefined);
    }
  };
  const after = (res: RangeResponse) => Buffer.concat([res.kvs[res.kvs.length - 1]!.key, Buffer.of(0)]);

  // The first page reads to the prefix's end: it fixes the revision and seeds the guesses.
  let res = await fetch(start, end);
  if (revision === 0n) revision = res.revision;
  const at = String(revision);
  let window: Window = { end, toSubtreeEnd: false };
  for (;;) {
    if (!fixed && res.kvs.length > 0) pageSize = Math.min(cap, fitPage(res));
    guesser.saw(res.kvs.map((kv) => kv.key));
    guesser.read(res.kvs.length, res.more, pageSize, window);
    // More in the window: the rest of it is read next (nothing lies between its last key and the next range).
    if (res.more && res.kvs.length > 0) queue.unshift({ start: after(res), window });
    fill();
    if (res.kvs.length > 0) {
      const entries = new Array<EtcdEntry>(res.kvs.length);
      for (let i = 0; i < entries.length; i++) {
        const kv = res.kvs[i]!;
        entries[i] = { key: kv.key.toString('utf8'), rawKey: kv.key, value: kv.value, modRevision: kv.modRevision };
      }
      yield { revision: at, entries };
    }
    const next = queue.shift();
    if (!next) return;
    window = next.window;
    res = await next.first!;
  }
}

// fitPage sizes the next page to about PAGE_BYTES at this page's mean entry size.
function fitPage(res: RangeResponse): number {
  let bytes = 0;
  for (const kv of res.kvs) bytes += kv.key.length + kv.value.length;
  const mean = Math.max(1, bytes / res.kvs.length);
  return Math.min(MAX_PAGE, Math.max(1, Math.floor(PAGE_BYTES / mean)));
}
