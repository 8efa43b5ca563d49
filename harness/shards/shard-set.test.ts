import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { cellId, type Cell } from './cell.js';
import { planShard } from './shard-plan.js';
import { shardFile, type ShardFile } from './shard-file.js';
import { checkShardSet, loadShardSet } from './shard-set.js';

const cells: Cell[] = ['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((unit) => ({
  command: 'run',
  unit,
  backend: 'sim',
  k8sVersion: 'model',
  plugin: 'fake-kms',
  seed: '',
}));

/** shards runs nothing: each cell's result is its own id. */
function shards(n: number, settings: Record<string, unknown> = { secrets: 24 }): ShardFile[] {
  return Array.from({ length: n }, (_, i) => {
    const plan = planShard('run', cells, settings, { index: i + 1, count: n });
    return shardFile(plan, {
      startedAt: Date.now(),
      results: plan.cells.map((c) => ({ cell: cellId(c), result: cellId(c) })),
      context: {},
    });
  });
}
const named = (files: ShardFile[], prefix = 'shard') =>
  files.map((file, i) => ({ path: `${prefix}-${i + 1}.json`, file }));
const refusal = (f: () => unknown) => {
  try {
    f();
  } catch (error) {
    return (error as Error & { exitCode?: number }).exitCode === 2
      ? (error as Error).message
      : `not a usage error: ${error}`;
  }
  return 'accepted';
};

describe('a whole set of shards merges to every cell once, in the run order', () => {
  test.each([1, 2, 3, 7, 12])('%i shard(s)', (n) => {
    const set = checkShardSet(named(shards(n)));
    expect(set.cells.map((c) => c.cell)).toEqual(cells.map(cellId));
    expect(set.cells.map((c) => c.result)).toEqual(cells.map(cellId));
    expect(set.shards.map((s) => s.file.shard.index)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
  });

  test('the order the files are given in does not matter', () => {
    expect(checkShardSet(named(shards(3)).reverse()).cells).toEqual(checkShardSet(named(shards(3))).cells);
  });
});

describe('what does not make one run is refused, naming it', () => {
  test('a missing shard', () => {
    const files = named(shards(3));
    expect(refusal(() => checkShardSet([files[0]!, files[2]!]))).toMatch(
      /shard 2\/3 is missing: rerun it \(kmslab run … --shard 2\/3\)/,
    );
  });

  test('a shard given twice', () => {
    const files = named(shards(3));
    expect(refusal(() => checkShardSet([...files, { ...files[1]!, path: 'copy.json' }]))).toMatch(
      /shard 2\/3 is given 2 times: shard-2\.json, copy\.json/,
    );
  });

  test('a shard of another spec (other settings), naming the files and the setting', () => {
    const files = named(shards(3));
    const other = named(shards(3, { secrets: 100 }), 'other')[2]!;
    expect(refusal(() => checkShardSet([files[0]!, files[1]!, other]))).toMatch(
      /different specs \(spec [0-9a-f]{12}: shard-1\.json, shard-2\.json; spec [0-9a-f]{12}: other-3\.json\): run every shard with the same arguments \(they differ in secrets\)/,
    );
  });

  test('a shard of another kmslab version', () => {
    const files = named(shards(2));
    files[1]!.file.kmslabVersion = '9.9.9';
    expect(refusal(() => checkShardSet(files))).toMatch(
      /different kmslab versions \(kmslab \d+\.\d+\.\d+: shard-1\.json; kmslab 9\.9\.9: shard-2\.json\): run every shard with one kmslab/,
    );
  });

  test('a shard of another command', () => {
    const files = named(shards(2));
    const chaos = shardFile(
      planShard(
        'chaos',
        cells.map((c) => ({ ...c, command: 'chaos' as const })),
        {},
        { index: 2, count: 2 },
      ),
      {
        startedAt: 0,
        results: [],
        context: {},
        interrupted: 'SIGINT',
      },
    );
    expect(refusal(() => checkShardSet([files[0]!, { path: 'chaos.json', file: chaos }]))).toMatch(
      /different commands \(run: shard-1\.json; chaos: chaos\.json\)/,
    );
  });

  test('shards of one run split two ways', () => {
    const three = named(shards(3));
    const two = named(shards(2), 'two');
    expect(refusal(() => checkShardSet([three[0]!, three[1]!, two[1]!]))).toMatch(/runs split differently/);
  });

  test('an edited spec', () => {
    const files = named(shards(2));
    files[1]!.file.spec = { ...files[1]!.file.spec, settings: { secrets: 1 } };
    expect(refusal(() => checkShardSet(files))).toMatch(
      /shard-2\.json: its spec does not match its spec hash: the file was edited/,
    );
  });

  test("a cell moved into another shard's file (an overlap), and the shard it left lacking it", () => {
    const files = named(shards(2));
    const moved = files[1]!.file.cells[0]!;
    files[0]!.file.cells.push(moved);
    files[0]!.file.results.push({ cell: moved, result: moved });
    const message = refusal(() => checkShardSet(files));
    expect(message).toContain(`shard-1.json (shard 1/2) holds cell ${moved}, which belongs to shard 2/2`);
    expect(message).toContain(`cell ${moved} is in both shard-1.json and shard-2.json`);
  });

  test('a cell with no result in a shard that was not interrupted; a result twice', () => {
    const files = named(shards(2));
    const lost = files[0]!.file.results.pop()!;
    files[1]!.file.results.push(files[1]!.file.results[0]!);
    const message = refusal(() => checkShardSet(files));
    expect(message).toContain(
      `shard-1.json (shard 1/2) has no result for 1 of its cells (${lost.cell}…) and was not interrupted`,
    );
    expect(message).toMatch(/shard-2\.json \(shard 2\/2\) has 2 results for cell/);
  });

  test('an interrupted shard may lack results: the set says it was interrupted', () => {
    const files = named(shards(2));
    files[0]!.file.results = [];
    files[0]!.file.interrupted = 'SIGTERM';
    const set = checkShardSet(files);
    expect(set.interrupted).toBe('SIGTERM');
    expect(set.cells.filter((c) => c.result === undefined).map((c) => c.cell)).toEqual(files[0]!.file.cells);
  });
});

describe('files and directories', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kmslab-shard-set-'));
  const write = (name: string, value: unknown) => {
    const path = join(dir, name);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, typeof value === 'string' ? value : JSON.stringify(value));
    return path;
  };

  test('a directory: every shard file below it, other JSON skipped and named', async () => {
    const [a, b] = shards(2);
    write('set/one/a.json', a);
    write('set/two/b.json', b);
    write('set/junit.json', { tests: 3 });
    const set = await loadShardSet([join(dir, 'set')]);
    expect(set.cells.map((c) => c.cell)).toEqual(cells.map(cellId));
    expect(set.skipped).toEqual([join(dir, 'set/junit.json')]);
  });

  test.each<[string, unknown, RegExp]>([
    [
      'not JSON',
      '{"format": "kmslab-shard',
      /is not JSON \(.*\), nor a log holding a framed shard result: give the file a shard wrote with --result, or the logs of a kmslab job's pods/,
    ],
    ['another JSON file', { tests: 3 }, /is not a kmslab shard result \(format missing, want "kmslab-shard-result"\)/],
    ['null', 'null', /is not a kmslab shard result/],
    [
      'a newer format',
      { ...shards(1)[0], formatVersion: 2 },
      /damaged at formatVersion: .* it is format version 2; this kmslab reads version 1/,
    ],
    [
      'a bad shard',
      { ...shards(1)[0], shard: { index: 3, count: 2 } },
      /damaged at shard: the shard index is larger than the count/,
    ],
    ['results not a list', { ...shards(1)[0], results: 'all passed' }, /damaged at results/],
    ['a hostile version string', { ...shards(1)[0], kmslabVersion: 'x'.repeat(1000) }, /damaged at kmslabVersion/],
  ])('%s: a usage error naming the file', async (name, value, why) => {
    const path = write(`${name.replace(/ /g, '-')}.json`, value);
    await expect(loadShardSet([path])).rejects.toThrow(why);
    await expect(loadShardSet([path])).rejects.toThrow(path);
  });

  test('a device, a FIFO, a missing file and an empty directory are refused before reading', async () => {
    await expect(loadShardSet(['/dev/zero'])).rejects.toThrow(
      /shard result \/dev\/zero: is a character device, not a regular file/,
    );
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    await expect(loadShardSet([fifo])).rejects.toThrow(/is a FIFO \(named pipe\), not a regular file/);
    await expect(loadShardSet([join(dir, 'nope.json')])).rejects.toThrow(/nope\.json: no such file/);
    mkdirSync(join(dir, 'empty'));
    await expect(loadShardSet([join(dir, 'empty')])).rejects.toThrow(/no shard result in .*empty/);
    await expect(loadShardSet([])).rejects.toThrow(/give the shard result files/);
  });
});
