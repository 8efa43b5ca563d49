import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import type { ChaosReport, ChaosSeedsReport } from '../../chaos/index.js';
import type { ConformanceReport } from '../../conformance/index.js';
import type { ShardFile } from '../../harness/shards/index.js';
import type { RunReport } from '../../scenarios/index.js';
import { kmslab } from '../../test/support/cli.js';

const home = mkdtempSync(join(tmpdir(), 'kmslab-merge-cli-'));
const cli = (cwd: string, ...args: string[]) => kmslab(args, { cwd, env: { KMSLAB_HOME: home } });
/** The core scenarios on the sim: what most of these tests split. */
const CORE_SIM = ['run', '--tag', 'core', '--backend', 'sim'];
const json = <T>(file: string) => JSON.parse(readFileSync(file, 'utf8')) as T;
const out = (r: { stdout?: unknown; stderr?: unknown }) => `${String(r.stdout)}${String(r.stderr)}`;
const workdir = (name: string) => {
  const dir = join(home, name);
  mkdirSync(join(dir, 'shards'), { recursive: true });
  return dir;
};

/** shardsOf runs a command's n shards at once, each writing shards/<i>.json; their exit codes in order. */
async function shardsOf(dir: string, n: number, args: string[]): Promise<number[]> {
  const runs = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      cli(dir, ...args, '--shard', `${i + 1}/${n}`, '--result', `shards/${i + 1}.json`),
    ),
  );
  for (const r of runs) expect(r.exitCode === 0 || r.exitCode === 1, out(r)).toBe(true);
  return runs.map((r) => r.exitCode!);
}

// A scenario as a cell sees it: outcome, each step's name and outcome, and the error — not times or seeds.
const cells = (r: RunReport) =>
  r.scenarios.map((s) => ({
    name: s.name,
    outcome: s.outcome,
    steps: s.steps.map((st) => [st.name, st.outcome, st.error?.message]),
    error: s.error,
  }));

describe('kmslab run: the shards merged equal the single run, cell for cell', () => {
  test('core on the sim, 3 shards: JSON, JUnit, HTML and exit code', async () => {
    const dir = workdir('run-core');
    const single = await cli(dir, ...CORE_SIM, '--json', 'single.json', '--junit', 'single.xml');
    expect(single.exitCode, out(single)).toBe(0);
    await shardsOf(dir, 3, ['run', '--tag', 'core', '--backend', 'sim']);
    const merged = await cli(
      dir,
      'merge',
      'shards',
      '--json',
      'merged.json',
      '--junit',
      'merged.xml',
      '--html',
      'merged.html',
    );
    expect(merged.exitCode, out(merged)).toBe(0);
    expect(out(merged)).toMatch(/merging 3 shard\(s\) of kmslab run: 7 cells/);
    expect(String(merged.stdout)).toMatch(/7\/7 scenarios passed/);
    const [one, all] = [json<RunReport>(join(dir, 'single.json')), json<RunReport>(join(dir, 'merged.json'))];
    expect(cells(all)).toEqual(cells(one));
    expect(all.outcome).toBe('passed');
    const testcases = (xml: string) => [...xml.matchAll(/<testcase [^>]*name="([^"]*)"/g)].map((m) => m[1]).sort();
    expect(testcases(readFileSync(join(dir, 'merged.xml'), 'utf8'))).toEqual(
      testcases(readFileSync(join(dir, 'single.xml'), 'utf8')),
    );
    const html = readFileSync(join(dir, 'merged.html'), 'utf8');
    for (const s of one.scenarios) expect(html).toContain(s.name);
  }, 300_000);

  test('a failing scenario of the user fails the merge as it fails the run (exit 1), and the same cells fail', async () => {
    const dir = workdir('run-failing');
    writeFileSync(
      join(dir, 'fails.scenario.mjs'),
      `import { defineScenario } from 'kmslab';
export default defineScenario({
  name: 'fails-on-purpose',
  summary: 'a step that throws',
  tags: ['core'],
  async run(lab, ctx) {
    await ctx.step('throws', async () => { throw new Error('on purpose'); });
  },
});
`,
    );
    const args = ['run', './fails.scenario.mjs', 'enable-new', 'rotate', '--backend', 'sim', '--secrets', '4'];
    const single = await cli(dir, ...args, '--json', 'single.json');
    expect(single.exitCode, out(single)).toBe(1);
    const codes = await shardsOf(dir, 2, args);
    expect(codes.sort()).toEqual([0, 1]);
    const merged = await cli(dir, 'merge', 'shards/1.json', 'shards/2.json', '--json', 'merged.json');
    expect(merged.exitCode, out(merged)).toBe(1);
    expect(cells(json<RunReport>(join(dir, 'merged.json')))).toEqual(cells(json<RunReport>(join(dir, 'single.json'))));
    expect(cells(json<RunReport>(join(dir, 'merged.json'))).find((c) => c.name === 'fails-on-purpose')).toMatchObject({
      outcome: 'failed',
      steps: [['throws', 'failed', 'on purpose']],
    });

    // The scenario file is part of the spec: a shard run on another version of it is foreign.
    writeFileSync(
      join(dir, 'fails.scenario.mjs'),
      readFileSync(join(dir, 'fails.scenario.mjs'), 'utf8') + '\n// edited\n',
    );
    await cli(dir, ...args, '--shard', '2/2', '--result', 'edited.json');
    const foreign = await cli(dir, 'merge', 'shards/1.json', 'edited.json');
    expect(foreign.exitCode).toBe(2);
    expect(out(foreign)).toMatch(/different specs \(.*shards\/1\.json.*edited\.json\).*they differ in scenarioFiles/);
  }, 300_000);

  test('a missing shard, a foreign one and a shard given twice fail the merge (exit 2), naming them', async () => {
    const dir = workdir('run-refused');
    await shardsOf(dir, 3, ['run', 'enable-new', 'rotate', 'kms-outage', '--backend', 'sim', '--secrets', '4']);
    const missing = await cli(dir, 'merge', 'shards/1.json', 'shards/3.json');
    expect(missing.exitCode).toBe(2);
    expect(out(missing)).toMatch(/shard 2\/3 is missing: rerun it \(kmslab run … --shard 2\/3\)/);
    expect(String(missing.stdout)).toBe('');

    await cli(dir, 'run', 'enable-new', 'rotate', 'kms-outage', '--backend', 'sim', '--secrets', '5', '--shard', '2/3');
    const foreign = await cli(dir, 'merge', 'shards/1.json', 'kmslab-run-shard-2-of-3.json', 'shards/3.json');
    expect(foreign.exitCode).toBe(2);
    expect(out(foreign)).toMatch(
      /different specs \(spec \w+: shards\/1\.json, shards\/3\.json; spec \w+: kmslab-run-shard-2-of-3\.json\).*they differ in secrets/,
    );

    const twice = await cli(dir, 'merge', 'shards', 'shards/2.json');
    expect(twice.exitCode).toBe(2);
    expect(out(twice)).toMatch(/shard 2\/3 is given 2 times: .*shards\/2\.json, shards\/2\.json/);

    expect(await cli(dir, 'merge', 'nothing-here.json').then((r) => [r.exitCode, out(r)])).toEqual([
      2,
      expect.stringMatching(/shard result nothing-here\.json: no such file/),
    ]);

    // A damaged cell result is refused naming the file and the cell, before any report is written.
    const file = json<ShardFile>(join(dir, 'shards/1.json'));
    const cell = file.results[0]!.cell;
    writeFileSync(
      join(dir, 'shards/1.json'),
      JSON.stringify({
        ...file,
        results: [{ cell, result: { name: '\u001b[31mx', steps: 'none' } }, ...file.results.slice(1)],
      }),
    );
    const damaged = await cli(dir, 'merge', 'shards', '--json', 'damaged.json');
    expect(damaged.exitCode).toBe(2);
    expect(out(damaged)).toContain(`shards/1.json, cell ${cell}: its scenario result is damaged at`);
    expect(out(damaged)).not.toContain('\u001b');

    // Text in a result is the file's: the summary shows it escaped, never as terminal control.
    const first = file.results[0]!.result as RunReport['scenarios'][number];
    writeFileSync(
      join(dir, 'shards/1.json'),
      JSON.stringify({
        ...file,
        results: [
          { cell, result: { ...first, outcome: 'failed', error: 'x\u001b]0;owned\u0007\u001b[2J' } },
          ...file.results.slice(1),
        ],
      }),
    );
    const escaped = await cli(dir, 'merge', 'shards');
    expect(escaped.exitCode, out(escaped)).toBe(1);
    expect(String(escaped.stdout)).toContain('x\\x1b]0;owned\\x07\\x1b[2J');
    expect(String(escaped.stdout)).not.toContain('\u001b');

    // A shard cut short by Ctrl-C: merge reports what ran and exits as the interrupted run did.
    writeFileSync(join(dir, 'shards/1.json'), JSON.stringify({ ...file, results: [], interrupted: 'SIGINT' }));
    const cut = await cli(dir, 'merge', 'shards', '--json', 'cut.json');
    expect(cut.exitCode, out(cut)).toBe(130);
    expect(json<RunReport>(join(dir, 'cut.json'))).toMatchObject({ outcome: 'failed' });
    expect(json<RunReport>(join(dir, 'cut.json')).scenarios).toHaveLength(3 - file.cells.length);
  }, 300_000);

  test('--list-cells prints the cells, or a shard of them, as text or JSON, and runs nothing', async () => {
    const dir = workdir('run-list');
    const all = await cli(dir, ...CORE_SIM, '--list-cells');
    expect(all.exitCode, out(all)).toBe(0);
    const ids = String(all.stdout).trim().split('\n');
    expect(ids).toHaveLength(7);
    expect(ids[0]).toBe('run:enable-new:sim:model:fake-kms:-');
    const listed = await cli(dir, ...CORE_SIM, '--list-cells', '--shard', '2/3', '--json', '-');
    const shard = JSON.parse(String(listed.stdout)) as { count: number; cells: Array<{ id: string; shard: number }> };
    expect(shard.count).toBe(shard.cells.length);
    expect(shard.cells.map((c) => c.id)).toEqual(ids.filter((id) => shard.cells.some((c) => c.id === id)));
    for (const c of shard.cells) expect(c.shard).toBe(2);
    const bad = await cli(dir, ...CORE_SIM, '--shard', '4/3');
    expect(bad.exitCode).toBe(2);
    expect(out(bad)).toMatch(/--shard "4\/3" names shard 4 of only 3/);
  }, 300_000);
});

describe('kmslab conformance: the shards merged equal the single run, check for check', () => {
  test('the fake KMS as an external plugin, checks only, 3 shards', async () => {
    const dir = workdir('conformance');
    const k = `${process.execPath} ${join(import.meta.dirname, '../kmslab.js')}`;
    const control = '--control "$(dirname "$KMSLAB_PLUGIN_SOCKET")/control.sock"';
    const args = [
      'conformance',
      '--scenarios',
      'none',
      '--artifacts',
      join(dir, 'artifacts'),
      '--plugin-cmd',
      `${k} fake-kms serve --socket {socket} --state-dir "$(dirname {socket})/state"`,
      '--rotate-cmd',
      `${k} kms rotate ${control}`,
      '--disable-cmd',
      `${k} kms disable {keyId} ${control}`,
      '--enable-cmd',
      `${k} kms enable {keyId} ${control}`,
    ];
    const single = await cli(dir, ...args, '--json', 'single.json');
    expect(single.exitCode, out(single)).toBe(0);
    // One at a time: the latency checks time the plugin, and two cores are all there is.
    for (const i of [1, 2, 3]) await cli(dir, ...args, '--shard', `${i}/3`, '--result', `shards/${i}.json`);
    const merged = await cli(dir, 'merge', 'shards', '--json', 'merged.json', '--junit', 'merged.xml');
    expect(merged.exitCode, out(merged)).toBe(0);
    const view = (r: ConformanceReport) => ({
      outcome: r.outcome,
      counts: r.counts,
      notChecked: r.notChecked,
      checks: r.checks.map((c) => [c.id, c.phase, c.level, c.outcome]),
    });
    const one = json<ConformanceReport>(join(dir, 'single.json'));
    expect(view(json<ConformanceReport>(join(dir, 'merged.json')))).toEqual(view(one));
    expect(one.checks).toHaveLength(29);
    // No plugin command, hook or socket path is written into a cell id.
    const file = readFileSync(join(dir, 'shards/1.json'), 'utf8');
    expect(JSON.parse(file).cells.join(' ')).not.toContain('fake-kms serve');
  }, 600_000);
});

describe('kmslab chaos --seeds: the shards merged equal the single run, seed for seed', () => {
  // On the sim a seed replays byte for byte: whole reports are equal but for wall-clock facts.
  const seedView = (r: ChaosSeedsReport) => ({
    ...r,
    seeds: r.seeds.map(({ report, ...s }) => ({ ...s, report: { ...report, startedAt: '', wallMs: 0 } })),
  });

  test('4 seeds of a plugin that forgets its keys: every anomaly with its seed and a replay command that reproduces it', async () => {
    const dir = workdir('chaos');
    const args = [
      'chaos',
      '--backend',
      'sim',
      '--seeds',
      '5..8',
      '--duration',
      '1h',
      '--sim-plugin',
      'forgets-keys-on-restart',
    ];
    const single = await cli(dir, ...args, '--json', 'single.json');
    expect(single.exitCode, out(single)).toBe(1);
    await shardsOf(dir, 3, args);
    const merged = await cli(dir, 'merge', 'shards', '--json', 'merged.json');
    expect(merged.exitCode, out(merged)).toBe(1);
    const html = await cli(dir, 'merge', 'shards', '--html', 'chaos.html');
    expect([html.exitCode, out(html)]).toEqual([
      2,
      expect.stringMatching(/--html is not made for chaos shards; write --json/),
    ]);
    const [one, all] = [
      json<ChaosSeedsReport>(join(dir, 'single.json')),
      json<ChaosSeedsReport>(join(dir, 'merged.json')),
    ];
    expect(seedView(all)).toEqual(seedView(one));
    expect(all.seeds.map((s) => s.seed)).toEqual(['5', '6', '7', '8']);
    expect(all.counts).toMatchObject({ passed: 3, failed: 1 });
    expect(all.anomalies.length).toBeGreaterThan(0);
    const first = all.anomalies[0]!;
    expect(String(merged.stdout)).toContain(`seed ${first.seed}: ${first.invariant}`);
    expect(String(merged.stdout)).toContain(`replay: ${first.replay}`);

    // The replay command runs that seed alone and finds the same anomaly.
    const replayed = await cli(
      dir,
      ...(first.replay.match(/'[^']*'|\S+/g) ?? []).slice(1).map((w) => w.replace(/^'|'$/g, '')),
      '--no-shrink',
      '--json',
      'replay.json',
    );
    expect(replayed.exitCode, out(replayed)).toBe(1);
    const again = json<ChaosReport>(join(dir, 'replay.json'));
    expect(again.invariants.find((i) => i.name === first.invariant)!.anomalies).toContainEqual(first.anomaly);
  }, 300_000);

  test('seeds need naming for shards, and --seeds takes A..B', async () => {
    const dir = workdir('chaos-usage');
    for (const [args, why] of [
      [['--shard', '1/2'], /--shard, --list-cells and --result need the seeds/],
      [['--seeds', '3..1'], /--seeds "3\.\.1" ends before it starts/],
      [['--seeds', '1..3', '--seed', 'x'], /give --seeds A\.\.B or one --seed, not both/],
      [['--seeds', '1..3', '--html', 'x.html'], /--html draws one seed's timeline/],
      [['--seeds', '1..3', '--schedule', 'kms-error@1000+1000'], /--schedule replays one run's faults/],
    ] as Array<[string[], RegExp]>) {
      const r = await cli(dir, 'chaos', '--backend', 'sim', '--duration', '1h', ...args);
      expect(r.exitCode, out(r)).toBe(2);
      expect(out(r)).toMatch(why);
    }
  }, 300_000);
});
