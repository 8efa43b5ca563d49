/**
 * The two etcd messages the inspector needs, coded by hand: a RangeRequest out, a RangeResponse in. The etcd3
 * client decodes each response into fresh objects and copies every key and value; a scan of a million values spent
 * most of its time there. Here keys and values are views into the response buffer, and fields the inspector does
 * not read are skipped without being decoded.
 *
 * Field numbers (etcdserverpb, mvccpb): RangeRequest key 1, range_end 2, limit 3, revision 4;
 * RangeResponse header 1, kvs 2, more 3, count 4; ResponseHeader revision 3;
 * KeyValue key 1, create_revision 2, mod_revision 3, version 4, value 5, lease 6.
 */

/** RangeRequest is the part of etcd's RangeRequest a paged prefix scan uses. */
export interface RangeRequest {
  key: Uint8Array;
  rangeEnd: Uint8Array;
  /** 0 = no limit. */
  limit: number;
  /** 0 = the newest revision. */
  revision: bigint;
}

/** RangeKv is one key-value pair; key and value are views into the response buffer (no copy). */
export interface RangeKv {
  key: Buffer;
  value: Buffer;
  /** Decimal, as the etcd3 client gives int64s: exact at any size, and what callers print. */
  modRevision: string;
}

export interface RangeResponse {
  revision: bigint;
  kvs: RangeKv[];
  more: boolean;
  /** Keys in the whole requested range, whatever the limit: what etcd counted to answer. */
  count: number;
}

const VARINT = 0;
const FIXED64 = 1;
const BYTES = 2;
const FIXED32 = 5;

/** encodeRangeRequest writes a RangeRequest in protobuf wire format. */
export function encodeRangeRequest(r: RangeRequest): Buffer {
  const parts: number[] = [];
  const bytes = (field: number, b: Uint8Array) => {
    if (b.length === 0) return;
    varint(parts, (field << 3) | BYTES);
    varint(parts, b.length);
    for (const x of b) parts.push(x);
  };
  bytes(1, r.key);
  bytes(2, r.rangeEnd);
  if (r.limit > 0) {
    varint(parts, (3 << 3) | VARINT);
    varint(parts, BigInt(r.limit));
  }
  if (r.revision > 0n) {
    varint(parts, (4 << 3) | VARINT);
    varint(parts, r.revision);
  }
  return Buffer.from(parts);
}

function varint(out: number[], value: number | bigint): void {
  let v = BigInt(value);
  if (v < 0n) v = BigInt.asUintN(64, v);
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
}

/** decodeRangeResponse reads a RangeResponse; unknown fields are skipped, malformed input throws. */
export function decodeRangeResponse(buf: Buffer): RangeResponse {
  const r = new Reader(buf);
  const out: RangeResponse = { revision: 0n, kvs: [], more: false, count: 0 };
  while (r.pos < buf.length) {
    const tag = r.uint();
    // Not tag >>> 3: a tag can pass 2^32, and a 32-bit shift would wrap it onto a field of ours.
    const field = Math.floor(tag / 8);
    if (field === 0) throw new Error('RangeResponse: field number 0');
    if (field === 1 && (tag & 7) === BYTES) {
      out.revision = headerRevision(r.sub());
    } else if (field === 2 && (tag & 7) === BYTES) {
      out.kvs.push(keyValue(r));
    } else if (field === 3 && (tag & 7) === VARINT) {
      out.more = r.long() !== 0n;
    } else if (field === 4 && (tag & 7) === VARINT) {
      out.count = Number(r.long());
    } else {
      r.skip(tag & 7);
    }
  }
  return out;
}

function headerRevision(r: Reader): bigint {
  let revision = 0n;
  while (r.pos < r.end) {
    const tag = r.uint();
    if (tag === ((3 << 3) | VARINT)) revision = r.long();
    else r.skip(tag & 7);
  }
  return revision;
}

const EMPTY = Buffer.alloc(0);

// Reads one KeyValue in place: the reader's end is narrowed to the message (no reader per value, on a hot path).
function keyValue(r: Reader): RangeKv {
  const n = r.uint();
  if (r.pos + n > r.end) throw new Error('RangeResponse: message runs past the end of its parent');
  const parentEnd = r.end;
  r.end = r.pos + n;
  const kv: RangeKv = { key: EMPTY, value: EMPTY, modRevision: '0' };
  while (r.pos < r.end) {
    const tag = r.uint();
    if (tag === ((1 << 3) | BYTES)) kv.key = r.bytes();
    else if (tag === ((5 << 3) | BYTES)) kv.value = r.bytes();
    else if (tag === ((3 << 3) | VARINT)) kv.modRevision = r.decimal();
    else r.skip(tag & 7);
  }
  r.end = parentEnd;
  return kv;
}

class Reader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start = 0,
    public end = buf.length,
  ) {
    this.pos = start;
  }

  /** uint reads a varint that fits in 32 bits (tags and lengths). */
  uint(): number {
    // Most tags and lengths take one byte: read them without the loop.
    const first = this.pos < this.end ? this.buf[this.pos]! : 0x80;
    if (first < 0x80) {
      this.pos++;
      return first;
    }
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return result;
    }
    throw new Error('RangeResponse: varint too long for a length or tag');
  }

  /** long reads a 64-bit varint (revisions). Revisions below 2^49 take the number fast path. */
  long(): bigint {
    let low = 0;
    let shift = 0;
    for (; shift < 49; shift += 7) {
      const b = this.byte();
      low += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return BigInt(low);
    }
    let result = BigInt(low);
    for (; shift < 70; shift += 7) {
      const b = this.byte();
      result |= BigInt(b & 0x7f) << BigInt(shift);
      if (b < 0x80) return BigInt.asIntN(64, result);
    }
    throw new Error('RangeResponse: varint longer than 10 bytes');
  }

  /** decimal reads a 64-bit varint as a decimal string, without a bigint below 2^49 (every real revision). */
  decimal(): string {
    const start = this.pos;
    let low = 0;
    for (let shift = 0; shift < 49; shift += 7) {
      const b = this.byte();
      low += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return String(low);
    }
    this.pos = start;
    return String(this.long());
  }

  bytes(): Buffer {
    const n = this.uint();
    const start = this.pos;
    if (start + n > this.end) throw new Error('RangeResponse: field runs past the end of its message');
    this.pos = start + n;
    return this.buf.subarray(start, start + n);
  }

  sub(): Reader {
    const n = this.uint();
    if (this.pos + n > this.end) throw new Error('RangeResponse: message runs past the end of its parent');
    const sub = new Reader(this.buf, this.pos, this.pos + n);
    this.pos += n;
    return sub;
  }

  skip(wireType: number): void {
    if (wireType === VARINT) this.skipVarint();
    else if (wireType === BYTES) this.bytes();
    else if (wireType === FIXED64) this.advance(8);
    else if (wireType === FIXED32) this.advance(4);
    else throw new Error(`RangeResponse: unsupported wire type ${wireType}`);
  }

  // Steps over a varint without building its value (KeyValue's create_revision, version, lease: every entry).
  private skipVarint(): void {
    for (let i = 0; i < 10; i++) if (this.byte() < 0x80) return;
    throw new Error('RangeResponse: varint longer than 10 bytes');
  }

  private advance(n: number): void {
    if (this.pos + n > this.end) throw new Error('RangeResponse: truncated');
    this.pos += n;
  }

  private byte(): number {
    if (this.pos >= this.end) throw new Error('RangeResponse: truncated');
    return this.buf[this.pos++]!;
  }
}
