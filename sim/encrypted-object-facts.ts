import { isUtf8 } from 'node:buffer';
import type { EncryptedObjectFacts } from './kms-rules.js';

/**
 * readEncryptedObjectFacts reads the facts the apiserver's read-path rules need from an EncryptedObject's wire
 * bytes, without copying its fields: a scan of a million values would otherwise allocate several buffers per value.
 * It decodes as kube-apiserver's protobuf-go does, and throws where that refuses: truncated input, field number 0,
 * wire types 6 and 7, an end-group tag with no group, strings (keyID, annotation keys) that are not UTF-8. Fields it
 * does not know, and known fields with another wire type, are skipped as unknown fields.
 *
 * Field numbers (k8s.io/apiserver kmsv2/v2 api.proto): encryptedData 1, keyID 2, encryptedDEKSource 3,
 * annotations 4 (map<string, bytes>: entry key 1, value 2), encryptedDEKSourceType 5.
 */
export function readEncryptedObjectFacts(buf: Buffer, start = 0, end = buf.length): EncryptedObjectFacts {
  const r = new WireReader(buf, start, end);
  const facts = {
    dekSourceType: 0,
    encryptedDataBytes: 0,
    encryptedDEKSourceBytes: 0,
    keyId: '',
    annotations: [] as Array<[string, number]>,
  };
  while (r.pos < r.end) {
    const tag = r.tag();
    if (tag === ((1 << 3) | BYTES)) facts.encryptedDataBytes = r.length();
    else if (tag === ((2 << 3) | BYTES)) facts.keyId = r.text('keyID');
    else if (tag === ((3 << 3) | BYTES)) facts.encryptedDEKSourceBytes = r.length();
    else if (tag === ((4 << 3) | BYTES)) annotation(r, facts.annotations);
    else if (tag === ((5 << 3) | VARINT)) facts.dekSourceType = r.int32();
    else r.skip(tag);
  }
  return facts;
}

// One map entry, read in place; a key seen before takes the new value, as a protobuf map does.
function annotation(r: WireReader, into: Array<[string, number]>): void {
  const n = r.varint();
  if (n > r.end - r.pos) throw new Error('truncated field');
  const parentEnd = r.end;
  r.end = r.pos + n;
  let key = '';
  let bytes = 0;
  while (r.pos < r.end) {
    const tag = r.tag();
    if (tag === ((1 << 3) | BYTES)) key = r.text('annotation key');
    else if (tag === ((2 << 3) | BYTES)) bytes = r.length();
    else r.skip(tag);
  }
  r.end = parentEnd;
  const seen = into.find((e) => e[0] === key);
  if (seen) seen[1] = bytes;
  else into.push([key, bytes]);
}

const VARINT = 0;
const FIXED64 = 1;
const BYTES = 2;
const START_GROUP = 3;
const END_GROUP = 4;
const FIXED32 = 5;
/** protobuf-go's bounds on field numbers: 2^29 − 1 for a message's and a map entry's fields, 2^31 − 1 inside groups. */
const MAX_FIELD = 2 ** 29 - 1;
const MAX_GROUP_FIELD = 2 ** 31 - 1;
/** Open groups protobuf-go accepts at once in an unknown field (its recursion limit, 10,000, counts from 0). */
const MAX_OPEN_GROUPS = 10_001;

class WireReader {
  pos: number;

  constructor(
    private readonly buf: Buffer,
    start: number,
    public end: number,
  ) {
    this.pos = start;
  }

  /** tag reads a field's tag: field number × 8 + wire type. */
  tag(maxField = MAX_FIELD): number {
    const tag = this.varint();
    const field = Math.floor(tag / 8);
    if (field < 1 || field > maxField) throw new Error(`invalid field number ${field}`);
    return tag;
  }

  /** varint reads up to 64 bits; the result is exact below 2^53 (lengths, tags), approximate above (skipped). */
  varint(): number {
    let result = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      const b = this.buf[this.pos++]!;
      if (i === 9 && b > 1) throw new Error('varint overflows 64 bits');
      result += (b & 0x7f) * 2 ** (7 * i);
      if (b < 0x80) return result;
    }
    throw new Error('varint overflows 64 bits');
  }

  /** int32 reads a varint and keeps its low 32 bits, signed (an enum's value). */
  int32(): number {
    let low = 0;
    const start = this.pos;
    this.varint();
    for (let i = start, shift = 0; i < this.pos && shift < 32; i++, shift += 7) low |= (this.buf[i]! & 0x7f) << shift;
    return low | 0;
  }

  /** length skips a length-delimited field and returns its length. */
  length(): number {
    const n = this.varint();
    if (n > this.end - this.pos) throw new Error('truncated field');
    this.pos += n;
    return n;
  }

  text(what: string): string {
    const n = this.length();
    const text = textOf(this.buf, this.pos - n, this.pos);
    if (text === undefined) throw new Error(`${what} is not valid UTF-8`);
    return text;
  }

  /** skip passes over a field of another number or wire type, as protobuf-go keeps it as an unknown field. */
  skip(tag: number): void {
    const wire = tag % 8;
    if (wire === START_GROUP) this.skipGroup(Math.floor(tag / 8));
    else if (wire === END_GROUP) throw new Error(`end of group ${Math.floor(tag / 8)} with no group`);
    else this.skipValue(wire);
  }

  private skipValue(wire: number): void {
    if (wire === VARINT) this.varint();
    else if (wire === FIXED64) this.advance(8);
    else if (wire === FIXED32) this.advance(4);
    else if (wire === BYTES) this.length();
    else throw new Error(`invalid wire type ${wire}`);
  }

  // Groups nest: kept on a stack of their field numbers, not the call stack (a value may open thousands).
  private skipGroup(field: number): void {
    const open = [field];
    while (open.length > 0) {
      if (this.pos >= this.end) throw new Error('group has no end');
      const tag = this.tag(MAX_GROUP_FIELD);
      const inner = Math.floor(tag / 8);
      const wire = tag % 8;
      if (wire === END_GROUP) {
        const top = open.pop()!;
        if (inner !== top) throw new Error(`group ${top} ends with the end of group ${inner}`);
      } else if (wire === START_GROUP) {
        if (open.length >= MAX_OPEN_GROUPS) throw new Error('groups nested too deeply');
        open.push(inner);
      } else this.skipValue(wire);
    }
  }

  private advance(n: number): void {
    if (n > this.end - this.pos) throw new Error('truncated field');
    this.pos += n;
  }
}

// Key ids and annotation keys repeat across a scan: the last few decoded are compared byte for byte and reused.
const TEXTS = 16;
const texts: Array<{ bytes: Buffer; text: string }> = [];
let nextSlot = 0;

function textOf(buf: Buffer, start: number, end: number): string | undefined {
  const n = end - start;
  for (const t of texts) {
    if (t.bytes.length !== n) continue;
    let i = 0;
    while (i < n && t.bytes[i] === buf[start + i]) i++;
    if (i === n) return t.text;
  }
  const bytes = Buffer.from(buf.subarray(start, end));
  if (!isUtf8(bytes)) return undefined;
  const entry = { bytes, text: bytes.toString('utf8') };
  texts[nextSlot] = entry;
  nextSlot = (nextSlot + 1) % TEXTS;
  return entry.text;
}
