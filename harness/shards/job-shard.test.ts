import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import { jobShardOf, runJobShard } from './job-shard.js';
import { readShardLog } from './shard-log.js';

// A stand-in for bin/kmslab.js: writes what it was given (args, cwd) as its result, unless told to fail or wait.
const entry = join(mkdtempSync(join(tmpdir(), 'kmslab-job-shard-')), 'fake-kmslab.mjs');
writeFileSync(
  entry,
  `import { writeFileSync } from 'node:fs';
const args = process.argv.slice(2);
const result = args[args.indexOf('--result') + 1];
const write = (extra) => writeFileSync(result, JSON.stringify({ args, cwd: process.cwd(), ...extra }));
if (args.includes('usage-error')) process.exit(2);
if (args.includes('wait')) {
  process.on('SIGTERM', () => { write({ interrupted: 'SIGTERM' }); process.exit(143); });
  writeFileSync(process.env.READY_FILE, 'waiting');
  setInterval(() => {}, 1000);
} else {
  write({});
  process.exitCode = args.includes('fail') ? 1 : 0;
}
`,
);

async function shardRun(index: string, args: string[], shards = 3, env: NodeJS.ProcessEnv = {}) {
  let log = '';
  const code = await runJobShard({
    shards,
    args,
    entry,
    env: { ...process.env, ...env, JOB_COMPLETION_INDEX: index },
    write: (t) => void (log += t),
  });
  const read = readShardLog(log, 'pod.log');
  return { code, log, read, result: read.results[0] && JSON.parse(read.results[0].bytes.toString('utf8')) };
}

describe('kmslab job shard: one pod runs its shard and prints the result in its log', () => {
  test('JOB_COMPLETION_INDEX i runs shard i+1/n, in a directory of its own that is gone afterwards', async () => {
    for (const i of [0, 1, 2]) {
      const { code, read, result } = await shardRun(String(i), ['run', '--tag', 'core']);
      expect(code).toBe(0);
      expect(read.notes).toEqual([]);
      expect(result.args).toEqual(['run', '--tag', 'core', '--shard', `${i + 1}/3`, '--result', expect.any(String)]);
      expect(result.cwd).toMatch(new RegExp(`kmslab-shard-${i + 1}-`));
      expect(existsSync(result.cwd)).toBe(false);
    }
  });

  test('failed cells: the result is printed and the exit code kept (the Job marks the index failed)', async () => {
    const { code, result } = await shardRun('2', ['run', 'fail']);
    expect([code, result.args[1]]).toEqual([1, 'fail']);
  });

  test('no result file: a line saying the shard failed and how, and kmslab’s exit code', async () => {
    const { code, read } = await shardRun('1', ['run', 'usage-error']);
    expect(code).toBe(2);
    expect(read.results).toEqual([]);
    expect(read.notes).toEqual([
      expect.stringMatching(
        /^pod\.log:1: shard 2\/3 failed before writing its result \(kmslab exited 2 with no result file\)/,
      ),
    ]);
  });

  test('the pod deleted: SIGTERM reaches the shard, whose interrupted result is printed', async () => {
    const ready = join(tmpdir(), `kmslab-job-shard-ready-${process.pid}`);
    const before = process.listeners('SIGTERM');
    const running = shardRun('0', ['run', 'wait'], 1, { READY_FILE: ready });
    while (!existsSync(ready)) await new Promise((r) => setTimeout(r, 50));
    // The pod's SIGTERM, delivered to runJobShard's handler alone (not to the test runner's own).
    const handler = process.listeners('SIGTERM').find((l) => !before.includes(l))!;
    handler('SIGTERM');
    const { code, result } = await running;
    expect([code, result.interrupted]).toEqual([143, 'SIGTERM']);
    expect(process.listeners('SIGTERM')).toEqual(before);
  });

  test.each([
    [undefined, /JOB_COMPLETION_INDEX is not set: kmslab job shard runs in a pod of an Indexed Job/],
    ['3', /JOB_COMPLETION_INDEX "3" is not an index from 0 to 2: the Job's completions and --shards differ/],
    ['-1', /JOB_COMPLETION_INDEX "-1" is not an index/],
    ['one', /JOB_COMPLETION_INDEX "one" is not an index/],
  ])('JOB_COMPLETION_INDEX %s is a usage error', (raw, message) => {
    const env = raw === undefined ? {} : { JOB_COMPLETION_INDEX: raw };
    expect(() => jobShardOf(env, 3)).toThrow(message);
  });
});

/** staticImports follows a module's relative static imports, transitively: the files that load with it. */
function staticImports(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  for (const m of readFileSync(file, 'utf8').matchAll(/^(?:import|export)\s[^;]*?from\s+'(\.[^']+)'/gm))
    staticImports(resolve(dirname(file), m[1]!.replace(/\.js$/, '.ts')), seen);
  return seen;
}

test('what a pod loads for its shard needs nothing of harness/images (whose build code reads files the image lacks)', () => {
  const root = resolve(import.meta.dirname, '../..');
  const loaded = [...staticImports(join(import.meta.dirname, 'index.ts'))].map((f) => relative(root, f));
  expect(loaded).toContain('harness/shards/job-shard.ts');
  expect(loaded.filter((f) => f.startsWith('harness/images/'))).toEqual([]);
});
