import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import type { RunReport } from '../../scenarios/index.js';
import { kmslab } from '../../test/support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'kmslab-job-cli-'));
const cli = (args: string[], env: Record<string, string> = {}) =>
  kmslab(args, { cwd: dir, env: { KMSLAB_HOME: join(dir, 'home'), ...env } });
const out = (r: { stdout?: unknown; stderr?: unknown }) => `${String(r.stdout)}${String(r.stderr)}`;
const CORE_SIM = ['run', '--tag', 'core', '--backend', 'sim'];

/** pod runs `kmslab job shard` as pod i of an n-shard job would, and returns its log as kubectl --prefix shows it. */
async function pod(i: number, n: number, args: string[]): Promise<string> {
  const r = await cli(['job', 'shard', '--shards', String(n), '--', ...args], { JOB_COMPLETION_INDEX: String(i) });
  return `${String(r.stderr)}\n${String(r.stdout)}`
    .split('\n')
    .map((line) => `[pod/kmslab-run-${i}-x${i}/kmslab] ${line}`)
    .join('\n');
}
const pods = (n: number, args: string[]) => Promise.all(Array.from({ length: n }, (_, i) => pod(i, n, args)));
const write = (name: string, text: string) => {
  writeFileSync(join(dir, name), text);
  return name;
};
const cells = (r: RunReport) =>
  r.scenarios.map((s) => ({ name: s.name, outcome: s.outcome, steps: s.steps.map((st) => [st.name, st.outcome]) }));

describe('kmslab job: pods print their shards in their logs, merge reads the logs', () => {
  test('3 pods of the core scenarios on the sim, their logs as one file: equal to the single run', async () => {
    const single = await cli([...CORE_SIM, '--json', 'single.json']);
    expect(single.exitCode, out(single)).toBe(0);
    const logs = await pods(3, CORE_SIM);
    const merged = await cli(['merge', write('all.log', logs.join('\n')), '--json', 'merged.json']);
    expect(merged.exitCode, out(merged)).toBe(0);
    const read = (f: string) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as RunReport;
    expect(cells(read('merged.json'))).toEqual(cells(read('single.json')));
    expect(cells(read('merged.json'))).toHaveLength(7);

    // One pod's log missing: the merge fails naming its shard.
    const missing = await cli(['merge', write('two.log', [logs[0], logs[2]].join('\n'))]);
    expect(missing.exitCode).toBe(2);
    expect(out(missing)).toMatch(/shard 2\/3 is missing: rerun it/);

    // A foreign shard: pod 2's log from a run with other arguments is refused, naming both logs.
    const otherPod = await pod(2, 3, [...CORE_SIM, '--secrets', '7']);
    const foreign = await cli(['merge', write('mixed.log', [logs[0], logs[1], otherPod].join('\n'))]);
    expect(foreign.exitCode).toBe(2);
    expect(out(foreign)).toMatch(
      /different specs \(spec [0-9a-f]{12}: mixed\.log:\d+ \[pod\/kmslab-run-0-x0\/kmslab\], mixed\.log:\d+ \[pod\/kmslab-run-1-x1\/kmslab\]; spec [0-9a-f]{12}: mixed\.log:\d+ \[pod\/kmslab-run-2-x2\/kmslab\]\).*differ in secrets/,
    );

    // A pod that failed before its result (here a usage error), each pod's log in a file of its own: the merge
    // names the shard and what the pod's log said.
    const failed = await pod(1, 3, [...CORE_SIM, '--step-timeout', '1ms']);
    expect(failed).toMatch(/kmslab-shard-result failed 2\/3 kmslab exited 2 with no result file/);
    const merge = await cli([
      'merge',
      write('pod-0.log', logs[0]!),
      write('pod-1.log', failed),
      write('pod-2.log', logs[2]!),
    ]);
    expect(merge.exitCode).toBe(2);
    expect(out(merge)).toMatch(
      /shard 2\/3 is missing[^\n]*\nthe logs also say:\n {2}pod-1\.log:\d+ \[pod\/kmslab-run-1-x1\/kmslab\]: shard 2\/3 failed before writing its result \(kmslab exited 2 with no result file\)/,
    );
  }, 120_000);

  test('the manifest: usage errors exit 2 and say what to do', async () => {
    const ok = await cli(['job', 'manifest', '--shards', '3', '--', 'run', '--tag', 'core']);
    expect(ok.exitCode, out(ok)).toBe(0);
    expect(String(ok.stdout)).toMatch(/completionMode: Indexed\n {2}completions: 3\n {2}parallelism: 3/);
    const bad = await cli(['job', 'manifest', '--shards', '3', '--', 'run', '--shard', '1/3']);
    expect([bad.exitCode, String(bad.stderr)]).toEqual([2, expect.stringMatching(/--shard is set by the job/)]);
  });
});
