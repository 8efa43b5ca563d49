import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { packageRoot } from '../harness/common/paths.js';
import type { RunReport } from '../scenarios/index.js';

// The sharded workflow in docs/ci.md, as a user copies it: its shape, and its commands run here on the sim.
const docs = readFileSync(join(packageRoot, 'docs/ci.md'), 'utf8');
const workflow = [...docs.matchAll(/```yaml\n([\s\S]*?)```/g)]
  .map((m) => parse(m[1]!) as Workflow)
  .find((w) => w.name === 'kms-sharded')!;

interface Step {
  name?: string;
  id?: string;
  run?: string;
  uses?: string;
  if?: string;
  with?: Record<string, unknown>;
}
interface Job {
  needs?: string | string[];
  if?: string;
  outputs?: Record<string, string>;
  strategy?: { 'fail-fast'?: boolean; 'max-parallel'?: number; matrix: Record<string, unknown> };
  steps: Step[];
}
interface Workflow {
  name: string;
  env: Record<string, string | number>;
  jobs: Record<string, Job>;
}

const step = (job: string, name: string) => workflow.jobs[job]!.steps.find((s) => s.name === name)!;
const uses = (job: string, action: string) => workflow.jobs[job]!.steps.filter((s) => s.uses?.startsWith(action));
const needs = (job: string) => [workflow.jobs[job]!.needs ?? []].flat();

/** runStep runs a step's script as Actions would (bash -e), with `${{ … }}` filled in and kmslab from this checkout. */
function runStep(script: string, cwd: string, env: Record<string, string>, values: Record<string, string> = {}) {
  const filled = script
    .replace(/\$\{\{\s*([^}]+?)\s*\}\}/g, (_, expr: string) => {
      expect(values, `an expression the test does not know: ${expr}`).toHaveProperty([expr]);
      return values[expr]!;
    })
    .replace(/\bnpx kmslab\b/g, `${process.execPath} ${join(packageRoot, 'bin/kmslab.js')}`);
  return execFileSync('bash', ['-e', '-c', filled], {
    cwd,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

describe('the sharded GitHub workflow in docs/ci.md', () => {
  test('lists the cells, runs a matrix of shards under max-parallel, then merges them even when a shard failed', () => {
    expect(workflow, 'docs/ci.md has a workflow named kms-sharded').toBeDefined();
    expect(Object.keys(workflow.jobs)).toEqual(['cells', 'shard', 'merge']);
    expect(workflow.jobs.cells!.outputs!.shards).toBe('${{ steps.cells.outputs.shards }}');
    expect(step('cells', 'list the cells').id).toBe('cells');
    expect(needs('shard')).toEqual(['cells']);
    const strategy = workflow.jobs.shard!.strategy!;
    expect(strategy.matrix.shard).toBe('${{ fromJSON(needs.cells.outputs.shards) }}');
    expect(strategy['fail-fast']).toBe(false);
    expect(strategy['max-parallel']).toBeGreaterThan(0);
    expect(needs('merge')).toEqual(['shard']);
    expect(workflow.jobs.merge!.if).toBe('always()');
    // What a shard uploads is what merge downloads and reads.
    const upload = uses('shard', 'actions/upload-artifact')[0]!;
    expect(upload.if).toBe('always()');
    expect(step('shard', 'run this shard').run).toContain(`--result "${upload.with!.path}"`);
    const download = uses('merge', 'actions/download-artifact')[0]!;
    expect(String(upload.with!.name).startsWith(String(download.with!.pattern).replace(/\*$/, ''))).toBe(true);
    expect(step('merge', 'merge the shards').run).toContain(`kmslab merge ${download.with!.path} `);
  });

  test("its commands, on the sim: the list job's matrix, each shard's result, the merge job's report", () => {
    const dir = mkdtempSync(join(tmpdir(), 'kmslab-ci-shards-'));
    const env = { BACKEND: 'sim', SHARDS: String(workflow.env.SHARDS), KMSLAB_HOME: join(dir, 'home') };
    expect(workflow.env.BACKEND).toBe('local');

    const list = join(dir, 'list');
    mkdirSync(list);
    runStep(step('cells', 'list the cells').run!, list, { ...env, GITHUB_OUTPUT: join(list, 'output') });
    const output = readFileSync(join(list, 'output'), 'utf8');
    const shards = JSON.parse(/^shards=(.*)$/m.exec(output)![1]!) as number[];
    expect(shards).toEqual([1, 2, 3]);
    const cells = JSON.parse(readFileSync(join(list, 'cells.json'), 'utf8')) as { cells: Array<{ id: string }> };

    // Each matrix job on a runner of its own; download-artifact puts each artifact in a directory of its name.
    const upload = uses('shard', 'actions/upload-artifact')[0]!.with!;
    const download = uses('merge', 'actions/download-artifact')[0]!.with!;
    const merge = join(dir, 'merge');
    for (const shard of shards) {
      const runner = join(dir, `shard-${shard}`);
      mkdirSync(runner);
      const values = { 'matrix.shard': String(shard), 'strategy.job-total': String(shards.length) };
      runStep(step('shard', 'run this shard').run!, runner, env, values);
      const name = String(upload.name).replace('${{ matrix.shard }}', String(shard));
      const file = String(upload.path).replace('${{ matrix.shard }}', String(shard));
      mkdirSync(join(merge, String(download.path), name), { recursive: true });
      copyFileSync(join(runner, file), join(merge, String(download.path), name, file));
    }

    runStep(step('merge', 'merge the shards').run!, merge, env);
    const report = JSON.parse(readFileSync(join(merge, 'reports/kms.json'), 'utf8')) as RunReport;
    expect(report.outcome).toBe('passed');
    expect(report.scenarios.map((s) => `run:${s.name}:sim:model:fake-kms:-`)).toEqual(cells.cells.map((c) => c.id));
    expect(readFileSync(join(merge, 'reports/kms.xml'), 'utf8')).toContain('<testsuites');
    expect(readFileSync(join(merge, 'reports/kms.html'), 'utf8')).toContain('<html');
  }, 300_000);
});
