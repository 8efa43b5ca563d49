import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { KmslabError } from '../common/errors.js';
import { cellId, pluginLabel, seedOfCellId } from './cell.js';
import { parseSeedRange } from './seed-range.js';
import { MAX_SHARDS, parseShard, pickShard, shardIndexes } from './shard.js';

describe('--shard i/n', () => {
  test('every i/n with 1 ≤ i ≤ n ≤ 256 is read as written', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: MAX_SHARDS }), fc.integer({ min: 0, max: MAX_SHARDS }), (n, k) => {
        const i = (k % n) + 1;
        expect(parseShard(`${i}/${n}`)).toEqual({ index: i, count: n });
      }),
    );
  });

  test.each([
    ['0/3', /counts from 1/],
    ['4/3', /names shard 4 of only 3/],
    ['1/0', /counts from 1/],
    ['1/257', /more than 256 shards/],
    ['257/257', /more than 256 shards/],
    ['1', /is not i\/n/],
    ['1/3/4', /is not i\/n/],
    ['-1/3', /is not i\/n/],
    ['1.5/3', /is not i\/n/],
    ['a/b', /is not i\/n/],
    ['', /is not i\/n/],
    ['1/ 3x', /is not i\/n/],
  ])('%s is a usage error that says what to give', (text, why) => {
    let error: unknown;
    try {
      parseShard(text);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(KmslabError);
    expect((error as KmslabError).exitCode).toBe(2);
    expect((error as Error).message).toMatch(why);
    expect((error as Error).message).toMatch(/give shard i of n as i\/n with 1 ≤ i ≤ n ≤ 256/);
  });
});

describe('cells are dealt into shards by a stable hash', () => {
  const ids = fc.uniqueArray(fc.string({ minLength: 1, maxLength: 40 }), { minLength: 0, maxLength: 300 });

  test('each cell lands in exactly one shard, and shard sizes differ by one at most', () => {
    fc.assert(
      fc.property(ids, fc.integer({ min: 1, max: MAX_SHARDS }), (cells, n) => {
        const shards = Array.from({ length: n }, (_, i) => pickShard(cells, (c) => c, { index: i + 1, count: n }));
        expect(shards.flat().sort()).toEqual([...cells].sort());
        const sizes = shards.map((s) => s.length);
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      }),
    );
  });

  test('the shard of a cell does not depend on the order the cells are listed in, and keeps their order', () => {
    fc.assert(
      fc.property(
        ids.chain((cells) => fc.tuple(fc.constant(cells), fc.shuffledSubarray(cells, { minLength: cells.length }))),
        fc.integer({ min: 1, max: 16 }),
        ([cells, shuffled], n) => {
          expect(shardIndexes(shuffled, n)).toEqual(shardIndexes(cells, n));
          for (let i = 1; i <= n; i++) {
            const picked = pickShard(cells, (c) => c, { index: i, count: n });
            expect(picked).toEqual(cells.filter((c) => picked.includes(c)));
          }
        },
      ),
    );
  });

  test('the same cells make the same shards on every machine (the hash is SHA-256 of the id)', () => {
    const core = ['enable-new', 'enable-existing', 'rotate', 'kms-outage', 'kms-outage-restart', 'key-disabled'].map(
      (unit) => cellId({ command: 'run', unit, backend: 'sim', k8sVersion: 'model', plugin: 'fake-kms', seed: '' }),
    );
    // Pinned (worked out with sha256sum | sort): a change here moves every user's cells between shards.
    expect(Object.fromEntries(shardIndexes(core, 3))).toEqual({
      'run:key-disabled:sim:model:fake-kms:-': 1,
      'run:enable-new:sim:model:fake-kms:-': 2,
      'run:enable-existing:sim:model:fake-kms:-': 3,
      'run:rotate:sim:model:fake-kms:-': 1,
      'run:kms-outage-restart:sim:model:fake-kms:-': 2,
      'run:kms-outage:sim:model:fake-kms:-': 3,
    });
  });

  test('a cell listed twice is refused', () => {
    expect(() => shardIndexes(['a', 'b', 'a'], 2)).toThrow(/cell a is listed twice/);
  });
});

describe('cell ids', () => {
  test('are made of command, unit, backend, Kubernetes version, plugin and seed; the seed reads back, colons and all', () => {
    fc.assert(
      fc.property(fc.string(), (seed) => {
        const id = cellId({
          command: 'chaos',
          unit: 'workload',
          backend: 'sim',
          k8sVersion: 'model',
          plugin: 'fake-kms',
          seed,
        });
        expect(id.startsWith('chaos:workload:sim:model:fake-kms:')).toBe(true);
        expect(seedOfCellId(id)).toBe(seed === '-' ? '' : seed);
      }),
    );
  });

  test("a user's plugin is named by a hash: its commands and hooks never appear", () => {
    const plugin = {
      command: 'my-plugin --token s3cr3t --listen unix://{socket}',
      hooks: { rotate: 'rotate --key k' },
    };
    const label = pluginLabel(plugin);
    expect(label).toMatch(/^plugin-[0-9a-f]{12}$/);
    expect(label).not.toContain('s3cr3t');
    expect(pluginLabel({ hooks: plugin.hooks, command: plugin.command })).toBe(label);
    expect(pluginLabel({ ...plugin, command: 'other {socket}' })).not.toBe(label);
    expect(pluginLabel(undefined)).toBe('fake-kms');
    expect(pluginLabel(undefined, 'aws')).toBe('cloud-aws');
  });
});

describe('--seeds A..B', () => {
  test('lists the seeds in order', () => {
    expect(parseSeedRange('1..4')).toEqual(['1', '2', '3', '4']);
    expect(parseSeedRange('7..7')).toEqual(['7']);
    expect(parseSeedRange(' 0 .. 2 ')).toEqual(['0', '1', '2']);
  });

  test.each([
    ['5..1', /ends before it starts/],
    ['1..20000', /names more than 10000 seeds/],
    ['1-5', /is not A\.\.B/],
    ['a..b', /is not A\.\.B/],
    ['-1..3', /is not A\.\.B/],
    ['', /is not A\.\.B/],
  ])('%s is a usage error', (text, why) => {
    expect(() => parseSeedRange(text)).toThrow(why);
    expect(() => parseSeedRange(text)).toThrow(/give whole numbers A\.\.B/);
  });
});
