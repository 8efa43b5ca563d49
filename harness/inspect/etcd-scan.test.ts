import { expect, test } from 'vitest';
import { seededRandom } from '../../sim/random.js';
import { CountingEtcd } from '../../test/support/counting-etcd.js';
import { scanPrefix, type RangeSource } from './etcd-scan.js';
import { earlierEnd, prefixEnd } from './scan-window.js';

async function scanAll(etcd: RangeSource, prefix: string, pageSize?: number): Promise<string[]> {
  const seen: string[] = [];
  for await (const page of scanPrefix(etcd, prefix, pageSize ? { pageSize } : {})) {
    for (const e of page.entries) seen.push(e.key);
  }
  return seen;
}

const random = seededRandom('etcd-scan');
const int = (n: number) => Math.floor(random.float() * n);
const latin1 = (s: string) => Buffer.from(s, 'latin1');

// Key sets whose shapes stress the window guesses: gaps, uneven directories, bytes at 0x00 and 0xff, keys that
// are prefixes of others, keys outside the prefix on both sides.
const shapes: Record<string, () => Buffer[]> = {
  namespaces: () =>
    Array.from({ length: 40 }, (_, ns) =>
      Array.from({ length: 1 + int(ns % 7 === 0 ? 3000 : 200) }, (_, i) => latin1(`/registry/secrets/ns-${ns}/s-${i}`)),
    ).flat(),
  resources: () =>
    ['configmaps', 'events.k8s.io/events', 'leases', 'secrets', 'serviceaccounts'].flatMap((r, j) =>
      Array.from({ length: j === 3 ? 2500 : 30 }, (_, i) => latin1(`/registry/${r}/default/${i}`)),
    ),
  randomBytes: () =>
    Array.from({ length: 3000 }, () => Buffer.concat([latin1('/registry/'), random.bytes(1 + int(12))])),
  extremes: () => [
    latin1('/registry/'),
    latin1('/registry/\u0000'),
    latin1('/registry/\u0000\u0000'),
    ...Array.from({ length: 500 }, (_, i) => latin1(`/registry/${'\u00ff'.repeat(1 + (i % 9))}${i}`)),
    latin1('/registry/a'),
    latin1('/registry/a/'),
    latin1('/registry/a/b'),
    latin1('/registry0'),
    latin1('/registrz'),
    latin1('/regis'),
  ],
};

test.each(Object.keys(shapes))(
  'a scan reads every key under the prefix once, in order, and nothing else (%s)',
  async (shape) => {
    const etcd = new CountingEtcd(shapes[shape]!());
    for (const pageSize of [undefined, 1, 7, 100]) {
      expect(await scanAll(etcd, '/registry/', pageSize)).toEqual(etcd.under('/registry/'));
    }
  },
);

test('an empty prefix reads every key (from "\\0", as etcd wants a key)', async () => {
  const etcd = new CountingEtcd([latin1('\u0000a'), latin1('/a'), latin1('\u00ff\u00ff')]);
  expect(await scanAll(etcd, '')).toEqual(etcd.under(''));
  // Range ends: "\0" stands for the end of the keyspace, past every key, and no prefix of 0xff bytes has an end.
  expect(prefixEnd(Buffer.from([0xff, 0xff]))).toEqual(Buffer.of(0));
  expect(earlierEnd(Buffer.of(0), latin1('b'))).toEqual(latin1('b'));
  expect(earlierEnd(latin1('c'), Buffer.of(0))).toEqual(latin1('c'));
});

test('etcd counts each key a few times, not once per page: windows bound every request', async () => {
  const n = 20_000;
  const cost = async (key: (i: number) => string) => {
    const etcd = new CountingEtcd(Array.from({ length: n }, (_, i) => latin1(key(i))));
    expect((await scanAll(etcd, '/registry/', 200)).length).toBe(n);
    return etcd.counted / n;
  };
  // Reading to the prefix's end on each of the 100 pages would count ~100 × n / 2 = 50 n keys.
  expect(await cost((i) => `/registry/secrets/default/secret-${String(i).padStart(6, '0')}`)).toBeLessThan(5);
  expect(await cost((i) => `/registry/secrets/default/db-${((i * 2654435761) % 2 ** 32).toString(36)}`)).toBeLessThan(
    5,
  );
  // 50 namespaces: each gap between two is found by growing windows, and the first past it may overshoot.
  expect(await cost((i) => `/registry/secrets/ns-${i % 50}/secret-${i}`)).toBeLessThan(8);
});

test('pages too large for one message are halved from their own limit, and stay small', async () => {
  const keys = Array.from({ length: 2000 }, (_, i) => latin1(`/registry/x/${String(i).padStart(5, '0')}`));
  // Two requests in flight are refused at once: each halves its own limit, not the other's.
  const etcd = new CountingEtcd(keys, 4100, 1000);
  expect(await scanAll(etcd, '/registry/')).toEqual(etcd.under('/registry/'));
  // Once halved, later pages keep to it: refusals do not repeat page after page (at most 4 keys fit in one).
  expect(etcd.refused).toBeLessThan(10);
  expect(etcd.requests).toBeLessThan(2000 / 2);
});

test('long shared prefixes and one-key pages cost a bounded number of requests', async () => {
  const long = new CountingEtcd(
    Array.from({ length: 1500 }, (_, i) => latin1(`/registry/${'x'.repeat(1000)}${String(i).padStart(4, '0')}`)),
  );
  expect((await scanAll(long, '/registry/')).length).toBe(1500);
  // Climbing out of a 1,000-byte prefix one byte per request would take ~2,000 requests.
  expect(long.requests).toBeLessThan(100);
  const single = new CountingEtcd(Array.from({ length: 3000 }, (_, i) => latin1(`/registry/s/${i}`)));
  expect((await scanAll(single, '/registry/', 1)).length).toBe(3000);
  // One key per page: without a guess every request would count to the end (~n / 2 keys each, 1,500 n in all).
  expect(single.counted).toBeLessThan(10 * 3000);
});
