import { expect, test } from 'vitest';
import { EncryptedObject } from '../gen/storage/v2/encrypted_object.js';
import { classify, kmsV2Prefix } from './envelope.js';
import { readEncryptedObjectFacts } from './encrypted-object-facts.js';
import { seededRandom } from './random.js';

const random = seededRandom('encrypted-object-facts');
const int = (n: number) => Math.floor(random.float() * n);

// Protobuf wire pieces, written out by hand so tests can build what no encoder would.
function varint(n: number | bigint): Buffer {
  const out: number[] = [];
  let v = BigInt(n);
  if (v < 0n) v = BigInt.asUintN(64, v);
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Buffer.from(out);
}
const tag = (field: number, wire: number) => varint(field * 8 + wire);
const bytes = (field: number, b: Buffer | string) => {
  const body = Buffer.from(b);
  return Buffer.concat([tag(field, 2), varint(body.length), body]);
};
const entry = (key: Buffer | string, value: Buffer) => bytes(4, Buffer.concat([bytes(1, key), bytes(2, value)]));
const validFields = () => [
  bytes(1, Buffer.alloc(80, 1)),
  bytes(2, 'key-1'),
  bytes(3, Buffer.alloc(32, 2)),
  Buffer.concat([tag(5, 0), varint(1)]),
];
const valid = () => Buffer.concat(validFields());

function factsOf(o: EncryptedObject) {
  return {
    dekSourceType: o.encryptedDEKSourceType as number,
    encryptedDataBytes: o.encryptedData.length,
    encryptedDEKSourceBytes: o.encryptedDEKSource.length,
    keyId: o.keyID,
    annotations: Object.entries(o.annotations).map(([k, v]) => [k, v.length]),
  };
}

test('facts equal what a full decode finds, for objects an encoder writes', () => {
  for (let i = 0; i < 300; i++) {
    const annotations: Record<string, Buffer> = {};
    for (let a = int(4); a > 0; a--) annotations[`a${int(100)}.example.com`] = random.bytes(int(40));
    const object: EncryptedObject = {
      encryptedData: random.bytes(int(3) === 0 ? 0 : int(2000)),
      keyID: ['', 'k', 'kms-key/ü/7', 'x'.repeat(int(1200))][int(4)]!,
      encryptedDEKSource: random.bytes(int(70)),
      annotations,
      encryptedDEKSourceType: int(3),
    };
    const wire = Buffer.from(EncryptedObject.encode(object).finish());
    expect(readEncryptedObjectFacts(wire)).toEqual(factsOf(EncryptedObject.decode(wire)));
  }
});

test('unknown fields of every wire type are skipped, groups included', () => {
  const unknown = Buffer.concat([
    tag(9, 0),
    varint(2n ** 63n),
    tag(10, 1),
    Buffer.alloc(8),
    tag(11, 5),
    Buffer.alloc(4),
    bytes(12, 'opaque'),
    tag(13, 3),
    tag(1, 0),
    varint(5),
    tag(14, 3),
    tag(14, 4),
    tag(13, 4),
  ]);
  const plain = readEncryptedObjectFacts(valid());
  expect(readEncryptedObjectFacts(Buffer.concat([unknown, valid(), unknown]))).toEqual(plain);
  // A known field with another wire type is an unknown field too (protobuf-go keeps it aside): keyID stays empty.
  const wrongType = Buffer.concat([bytes(1, Buffer.alloc(80)), tag(2, 0), varint(7), bytes(3, Buffer.alloc(32))]);
  expect(readEncryptedObjectFacts(wrongType).keyId).toBe('');
});

test('what protobuf-go refuses is refused: truncation, field 0, wire types 6 and 7, stray end groups, bad UTF-8', () => {
  const wire = valid();
  // Every cut inside a field; cuts on a field boundary are shorter objects.
  let at = 0;
  const boundaries = new Set([0, ...validFields().map((f) => (at += f.length))]);
  for (let cut = 1; cut < wire.length; cut++) {
    if (boundaries.has(cut)) expect(() => readEncryptedObjectFacts(wire.subarray(0, cut))).not.toThrow();
    else expect(() => readEncryptedObjectFacts(wire.subarray(0, cut))).toThrow(/truncated/);
  }
  const refused: Array<[Buffer, RegExp]> = [
    [Buffer.concat([wire, Buffer.of(0)]), /field number 0/],
    [Buffer.concat([wire, tag(9, 6)]), /wire type 6/],
    [Buffer.concat([wire, tag(9, 7)]), /wire type 7/],
    [Buffer.concat([wire, tag(9, 4)]), /no group/],
    [Buffer.concat([wire, tag(9, 3), tag(8, 4)]), /ends with the end of group 8/],
    [Buffer.concat([wire, tag(9, 3)]), /no end/],
    [Buffer.concat([wire, tag(9, 0), Buffer.alloc(10, 0xff), Buffer.of(1)]), /varint/],
    [Buffer.concat([wire, bytes(2, Buffer.of(0x6b, 0xff, 0x31))]), /keyID is not valid UTF-8/],
    [Buffer.concat([wire, entry(Buffer.of(0xc3, 0x28), Buffer.of(1))]), /annotation key is not valid UTF-8/],
  ];
  for (const [bad, reason] of refused) expect(() => readEncryptedObjectFacts(bad)).toThrow(reason);
  // The classifier reports them as values the apiserver cannot read.
  const stored = Buffer.concat([Buffer.from(kmsV2Prefix('p')), wire, Buffer.of(0)]);
  expect(classify(stored)).toMatchObject({ class: 'invalid', claims: 'kms-v2', name: 'p' });
});

test('annotations: a repeated key keeps its last value, and __proto__ is a name like any other', () => {
  const twice = Buffer.concat([
    valid(),
    entry('a.example.com', Buffer.alloc(10)),
    entry('a.example.com', Buffer.alloc(3)),
  ]);
  expect(readEncryptedObjectFacts(twice).annotations).toEqual([['a.example.com', 3]]);
  const proto = Buffer.concat([valid(), entry('__proto__', Buffer.alloc(3))]);
  expect(readEncryptedObjectFacts(proto).annotations).toEqual([['__proto__', 3]]);
  // The apiserver validates every annotation key as a DNS subdomain: this one fails.
  const row = classify(Buffer.concat([Buffer.from(kmsV2Prefix('p')), proto]));
  expect(row.class).toBe('invalid');
  expect(row.error).toMatch(/__proto__/);
});

test('the DEK source type keeps the low 32 bits of its varint, as an int32 enum', () => {
  const type = (n: bigint) => readEncryptedObjectFacts(Buffer.concat([valid(), tag(5, 0), varint(n)])).dekSourceType;
  expect(type(1n)).toBe(1);
  expect(type(2n ** 32n + 1n)).toBe(1);
  expect(type(-1n)).toBe(-1);
  expect(type(2n ** 31n)).toBe(-(2 ** 31));
});

test('field numbers: up to 2^29 − 1 in the message, 2^31 − 1 in unknown groups, 10,001 groups deep, as protobuf-go', () => {
  const group = (field: number, inner: Buffer = Buffer.alloc(0)) =>
    Buffer.concat([tag(field, 3), inner, tag(field, 4)]);
  expect(() => readEncryptedObjectFacts(Buffer.concat([valid(), group(9, group(2 ** 31 - 1))]))).not.toThrow();
  expect(() => readEncryptedObjectFacts(Buffer.concat([valid(), group(9, group(2 ** 31))]))).toThrow(/field number/);
  expect(() => readEncryptedObjectFacts(Buffer.concat([valid(), tag(2 ** 29 - 1, 0), varint(1)]))).not.toThrow();
  expect(() => readEncryptedObjectFacts(Buffer.concat([valid(), tag(2 ** 29, 0), varint(1)]))).toThrow(/field number/);
  const nested = (n: number) =>
    Buffer.concat([Buffer.concat(Array(n).fill(tag(9, 3))), Buffer.concat(Array(n).fill(tag(9, 4)))]);
  expect(readEncryptedObjectFacts(Buffer.concat([valid(), nested(10_001)])).keyId).toBe('key-1');
  // One more is refused for depth, not by a stack overflow.
  expect(() => readEncryptedObjectFacts(Buffer.concat([valid(), nested(10_002)]))).toThrow(/nested too deeply/);
});
