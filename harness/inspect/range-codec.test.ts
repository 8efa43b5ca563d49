import { expect, test } from 'vitest';
// An independent coder: protobufjs over the etcd .proto files the etcd3 package ships.
import { RangeRequest, RangeResponse } from '../../test/support/fake-etcd.js';
import { decodeRangeResponse, encodeRangeRequest } from './range-codec.js';

const encodeResponse = (message: object) =>
  Buffer.from(RangeResponse.encode(RangeResponse.fromObject(message)).finish());

test('a RangeResponse encoded by protobufjs decodes to the same keys, values, revisions and more flag', () => {
  const kvs = Array.from({ length: 50 }, (_, i) => ({
    key: Buffer.from(`/registry/secrets/ns/s-${i}`),
    create_revision: 10 + i,
    mod_revision: 1000 + i,
    version: 3,
    value: Buffer.alloc(i * 7, i),
    lease: i % 2 ? 77 : 0,
  }));
  const wire = encodeResponse({
    header: { cluster_id: '12345678901234567', member_id: 9, revision: 4242, raft_term: 5 },
    kvs,
    more: true,
    count: 9999,
  });
  const res = decodeRangeResponse(wire);
  expect(res.revision).toBe(4242n);
  expect(res.more).toBe(true);
  expect(res.count).toBe(9999);
  expect(res.kvs.map((kv) => kv.key.toString())).toEqual(kvs.map((kv) => kv.key.toString()));
  expect(res.kvs.map((kv) => kv.value)).toEqual(kvs.map((kv) => kv.value));
  expect(res.kvs.map((kv) => kv.modRevision)).toEqual(kvs.map((kv) => String(kv.mod_revision)));
  // Views, not copies: every value shares the response's memory.
  expect(res.kvs[10]!.value.buffer).toBe(wire.buffer);
});

test('revisions beyond 2^53 survive, an empty response decodes, more is false when absent', () => {
  const big = '9223372036854775000';
  const res = decodeRangeResponse(
    encodeResponse({ header: { revision: big }, kvs: [{ key: Buffer.from('k'), mod_revision: big }] }),
  );
  expect(res.revision).toBe(BigInt(big));
  expect(res.kvs[0]!.modRevision).toBe(big);
  expect(res.kvs[0]!.value.length).toBe(0);
  expect(res.more).toBe(false);
  expect(decodeRangeResponse(Buffer.alloc(0))).toEqual({ revision: 0n, kvs: [], more: false, count: 0 });
});

test('a truncated response throws instead of returning a short page', () => {
  const wire = encodeResponse({
    header: { revision: 7 },
    kvs: [{ key: Buffer.from('abc'), value: Buffer.alloc(100) }],
  });
  for (const cut of [wire.length - 1, wire.length - 50, 5]) {
    expect(() => decodeRangeResponse(wire.subarray(0, cut))).toThrow(/RangeResponse/);
  }
});

test('encodeRangeRequest writes what protobufjs reads back as the same request', () => {
  const wire = encodeRangeRequest({
    key: Buffer.from('/registry/'),
    rangeEnd: Buffer.from('/registry0'),
    limit: 5000,
    revision: 123456789012n,
  });
  const back = RangeRequest.toObject(RangeRequest.decode(wire), { longs: String, bytes: Buffer }) as Record<
    string,
    unknown
  >;
  expect(back).toMatchObject({ key: Buffer.from('/registry/'), range_end: Buffer.from('/registry0') });
  expect(back.limit).toBe('5000');
  expect(back.revision).toBe('123456789012');
  expect(
    RangeRequest.toObject(
      RangeRequest.decode(
        encodeRangeRequest({ key: Buffer.from('a'), rangeEnd: Buffer.alloc(0), limit: 0, revision: 0n }),
      ),
      { longs: String },
    ),
  ).toEqual({ key: Buffer.from('a') });
});

test('a tag past 2^32 is a field of its own, not one of ours with its high bits dropped; field 0 is refused', () => {
  // 0x92 0x80 0x80 0x80 0x10 is field 2^29 + 2, wire type 2: its three bytes would spell a KeyValue if read as field 2.
  const wire = Buffer.from('9280808010030a0141', 'hex');
  expect(decodeRangeResponse(wire).kvs).toEqual([]);
  expect(() => decodeRangeResponse(Buffer.from('0001', 'hex'))).toThrow(/field number 0/);
});
