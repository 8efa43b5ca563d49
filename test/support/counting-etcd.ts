import type { RangeSource } from '../../harness/inspect/etcd-scan.js';
import type { RangeRequest, RangeResponse } from '../../harness/inspect/range-codec.js';

/**
 * A range source over sorted keys that answers as etcd does (limit, more, and a count of every key in the range,
 * which is etcd's cost) and records what each request counted.
 */
export class CountingEtcd implements RangeSource {
  readonly keys: Buffer[];
  counted = 0;
  requests = 0;
  refused = 0;

  constructor(
    keys: Buffer[],
    /** Refuses responses above this many bytes as grpc-js refuses an oversized message. */
    private readonly maxBytes = Infinity,
    private readonly valueBytes = 1,
    /** Each key's value (default: `valueBytes` bytes of "v"). */
    private readonly valueOf: (key: Buffer) => Buffer = () => Buffer.alloc(valueBytes, 0x76),
  ) {
    this.keys = [...new Map(keys.map((k) => [k.toString('hex'), k])).values()].sort(Buffer.compare);
  }

  async range(r: RangeRequest): Promise<RangeResponse> {
    await Promise.resolve();
    this.requests++;
    if (r.key.length === 0) throw new Error('3 INVALID_ARGUMENT: etcdserver: key is not provided');
    const key = Buffer.from(r.key);
    const end = Buffer.from(r.rangeEnd);
    const toEnd = end.length === 1 && end[0] === 0;
    let i = lowerBound(this.keys, key);
    const inRange: Buffer[] = [];
    for (; i < this.keys.length && (toEnd || this.keys[i]!.compare(end) < 0); i++) inRange.push(this.keys[i]!);
    this.counted += inRange.length;
    const page = r.limit > 0 ? inRange.slice(0, r.limit) : inRange;
    const bytes = page.reduce((sum, k) => sum + k.length + this.valueBytes, 0);
    if (bytes > this.maxBytes) {
      this.refused++;
      throw new Error('RESOURCE_EXHAUSTED: Received message larger than max');
    }
    return {
      revision: 7n,
      more: page.length < inRange.length,
      count: inRange.length,
      kvs: page.map((k) => ({ key: k, value: this.valueOf(k), modRevision: '7' })),
    };
  }

  under(prefix: string): string[] {
    const p = Buffer.from(prefix);
    return this.keys.filter((k) => k.subarray(0, p.length).equals(p)).map((k) => k.toString('utf8'));
  }
}

function lowerBound(keys: Buffer[], key: Buffer): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (keys[mid]!.compare(key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
