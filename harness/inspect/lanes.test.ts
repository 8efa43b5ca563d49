import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { CountingEtcd } from '../../test/support/counting-etcd.js';
import { EncryptedDEKSourceType, encodeKmsV2Value } from '../../sim/index.js';
import { scanLanes, scanPrefix } from './etcd-scan.js';
import { parseFailOn } from './fail-on.js';
import { Gate } from './gate.js';
import { inspectEtcd } from './inspect.js';
import { midKey } from './key-split.js';

// Reading in lanes (disjoint key ranges at once) must give exactly what one ordered scan gives: the same keys, none
// skipped, repeated or outside the prefix, in the same order once the lanes are put in their order.

const bytes = (s: string) => Buffer.from(s, 'latin1');
const PREFIX = '/registry/';

// Key sets with the shapes that break splits: bytes 0x00 and 0xff, keys that are prefixes of others, long shared
// prefixes, dense and sparse directories, keys just outside the prefix on both sides.
const keyPart = fc.oneof(
  fc.uint8Array({ minLength: 0, maxLength: 6 }).map((b) => Buffer.from(b)),
  fc.constantFrom(...['', '\u0000', '\u00ff', '\u00ff\u00ff', 'a', 'a/', 'secrets/', 'x'.repeat(40)].map(bytes)),
  fc
    .tuple(fc.constantFrom('secrets/ns-', 'configmaps/', 'leases/kube-system/'), fc.nat(60))
    .map(([d, n]) => bytes(`${d}${n}/`)),
);
const keyOf = fc
  .tuple(
    fc.constantFrom(PREFIX, PREFIX, PREFIX, '/registry0', '/regis', '/registrz'),
    fc.array(keyPart, { maxLength: 3 }),
    fc.nat(5000),
  )
  .map(([p, parts, n]) => Buffer.concat([bytes(p), ...parts, bytes(String(n))]));
const keySet = fc.array(keyOf, { minLength: 0, maxLength: 800, size: 'max' });

async function serial(etcd: CountingEtcd, prefix: string, pageSize?: number): Promise<string[]> {
  const keys: string[] = [];
  for await (const page of scanPrefix(etcd, prefix, pageSize ? { pageSize } : {}))
    for (const e of page.entries) keys.push(e.rawKey.toString('hex'));
  return keys;
}

async function inLanes(etcd: CountingEtcd, prefix: string, lanes: number, pageSize?: number) {
  const byLane: string[][] = [];
  for await (const page of scanLanes(etcd, prefix, { lanes, minLaneKeys: 5, ...(pageSize ? { pageSize } : {}) }))
    for (const e of page.entries) (byLane[page.lane] ??= []).push(e.rawKey.toString('hex'));
  return byLane;
}

describe('scanLanes', () => {
  test('the lanes, in their order, hold exactly the serial scan’s keys in its order (property)', async () => {
    let split = 0;
    await fc.assert(
      fc.asyncProperty(
        keySet,
        fc.integer({ min: 2, max: 8 }),
        fc.constantFrom(undefined, 1, 3, 50),
        async (keys, lanes, pageSize) => {
          const etcd = new CountingEtcd(keys);
          const byLane = await inLanes(etcd, PREFIX, lanes, pageSize);
          expect(byLane.flat()).toEqual(await serial(etcd, PREFIX, pageSize));
          const under = etcd.keys.filter((k) => k.subarray(0, PREFIX.length).equals(bytes(PREFIX)));
          expect(byLane.flat()).toEqual(under.map((k) => k.toString('hex')));
          // Never more ranges than asked for, besides the first page's.
          expect(byLane.length).toBeLessThanOrEqual(lanes + 1);
          if (byLane.filter(Boolean).length > 2) split++;
        },
      ),
      { numRuns: 100, seed: 1807 },
    );
    // The property is about splits: most runs must have made some.
    expect(split).toBeGreaterThan(20);
  });

  test('an empty prefix reads every key in lanes too', async () => {
    const etcd = new CountingEtcd(
      Array.from({ length: 400 }, (_, i) => Buffer.from([i % 256, (i * 7) % 256, 0xff, i >> 8])),
    );
    const byLane = await inLanes(etcd, '', 4, 10);
    expect(byLane.filter(Boolean).length).toBeGreaterThan(2);
    expect(byLane.flat()).toEqual(await serial(etcd, ''));
  });

  test('a split costs etcd a few counts of the keys, not one per probe', async () => {
    const keys = Array.from({ length: 100_000 }, (_, i) => bytes(`${PREFIX}secrets/ns-${i % 50}/secret-${i}`));
    const etcd = new CountingEtcd(keys);
    const lanes = await inLanes(etcd, PREFIX, 4);
    expect(lanes.filter(Boolean).length).toBe(5);
    // Balanced: no range holds more than half the keys.
    expect(Math.max(...lanes.map((l) => l?.length ?? 0))).toBeLessThan(50_000);
    const serialCost = new CountingEtcd(keys);
    await serial(serialCost, PREFIX);
    // Splitting and the lanes' own first requests cost a few passes over the keys beyond the serial scan's.
    expect(etcd.counted - serialCost.counted).toBeLessThan(5 * keys.length);
  });
});

test('a lane that fails fails the scan with its error, nothing left unhandled or asking', async () => {
  const keys = Array.from({ length: 3000 }, (_, i) => bytes(`${PREFIX}secrets/ns-${i % 7}/s-${i}`));
  const etcd = new CountingEtcd(keys);
  const range = etcd.range.bind(etcd);
  let failed = false;
  etcd.range = async (r) => {
    // Pages of ns-4, past the first page and its split, are refused.
    if (r.limit > 1 && Buffer.from(r.key).toString().includes('ns-4')) {
      failed = true;
      throw new Error('14 UNAVAILABLE: etcd went away');
    }
    return range(r);
  };
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  try {
    await expect(inLanes(etcd, PREFIX, 2, 20)).rejects.toThrow(/etcd went away/);
    expect(failed).toBe(true);
    const asked = etcd.requests;
    await new Promise((r) => setTimeout(r, 50));
    expect(etcd.requests).toBe(asked);
    expect(unhandled).toEqual([]);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});

describe('midKey', () => {
  test('lies strictly between its bounds, or there is no byte string between them (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 8 }), fc.uint8Array({ maxLength: 8 }), fc.boolean(), (x, y, toEnd) => {
        const [low, high] = [Buffer.from(x), Buffer.from(y)].sort(Buffer.compare) as [Buffer, Buffer];
        const end = toEnd ? Buffer.of(0) : high;
        // "\0" as a range end is the end of the keyspace, never a key.
        if (!toEnd && (low.equals(high) || high.equals(Buffer.of(0)))) return;
        const mid = midKey(low, end);
        if (mid) {
          expect(mid.compare(low)).toBeGreaterThan(0);
          if (!toEnd) expect(mid.compare(high)).toBeLessThan(0);
        } else {
          // Nothing lies between a key and the same key with a zero byte after it.
          expect(toEnd ? false : high.equals(Buffer.concat([low, Buffer.of(0)]))).toBe(true);
        }
      }),
      { numRuns: 2000, seed: 1808 },
    );
  });
});

describe('inspectEtcd in lanes', () => {
  const plaintext = Buffer.from('k8s\u0000\n\u0002v1\u0012\u0006Secret');
  const kms = (keyID: string) =>
    encodeKmsV2Value('p', {
      encryptedData: Buffer.alloc(40, 1),
      keyID,
      encryptedDEKSource: Buffer.alloc(32, 2),
      annotations: {},
      encryptedDEKSourceType: EncryptedDEKSourceType.HKDF_SHA256_XNONCE_AES_GCM_SEED,
    });
  // A value per key, from its bytes: plaintext, KMS v2 under several key_ids, unknown and invalid ones.
  const valueOf = (key: Buffer) => {
    const h = key.reduce((a, b) => (a * 31 + b) >>> 0, 7) % 7;
    return h === 0 ? plaintext : h === 1 ? Buffer.from('garbage') : h === 2 ? kms('') : kms(`key-${h}`);
  };
  const gateFor = () =>
    new Gate(parseFailOn(['plaintext', 'unknown', 'invalid', 'not-key-id=key-3']), { offenders: 25, perCase: 7 });

  test('the summary and the gate (counts, kept keys, their order) are the serial scan’s (property)', async () => {
    let split = 0;
    await fc.assert(
      fc.asyncProperty(keySet, fc.integer({ min: 2, max: 6 }), async (keys, lanes) => {
        const etcd = new CountingEtcd(keys, Infinity, 1, valueOf);
        const one = gateFor();
        const serialReport = await inspectEtcd({ etcd, onRow: (row, raw) => one.check(row, raw), pageSize: 40 });
        const parallel = await inspectEtcd({
          etcd,
          lanes,
          pageSize: 40,
          minLaneKeys: 5,
          sink: () => {
            const gate = gateFor();
            return { gate, add: (row, raw) => gate.check(row, raw) };
          },
        });
        const merged = gateFor();
        for (const s of parallel.sinks) merged.merge(s.gate);
        // JSON keeps the order of every object's keys: the printed summary is the same, not only its counts.
        expect(JSON.stringify(parallel.summary)).toBe(JSON.stringify(serialReport.summary));
        expect(parallel.revision).toBe(serialReport.revision);
        expect(JSON.stringify([merged.offending, merged.offenders, merged.cases])).toBe(
          JSON.stringify([one.offending, one.offenders, one.cases]),
        );
        if (parallel.sinks.length > 2) split++;
      }),
      { numRuns: 60, seed: 1809 },
    );
    expect(split).toBeGreaterThan(20);
  });
});
