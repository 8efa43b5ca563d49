import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { KindLab } from '../harness/backends/kind/kind-lab.js';
import { poll } from '../harness/common/wait.js';
import { dockerInfo } from '../harness/engine/index.js';
import { KMSLAB_IMAGE, kmslabImage } from '../harness/images/kmslab-image.js';
import { readShardLog, type ShardFile } from '../harness/shards/index.js';
import type { RunReport } from '../scenarios/index.js';
import { kmslab } from './support/cli.js';
import { isolateHome, uniqueName } from './support/env.js';

isolateHome();

// Issue 24 item 4: a run's 3 shards as the Indexed Job `kmslab job manifest` writes, on a kind lab with kmslab's
// image loaded into its node (never pulled). Each pod runs its shard's local labs as processes, unprivileged, and
// prints its result in its log; `kmslab merge` of `kubectl logs` must equal one run of the same cells on the host,
// cell for cell. Three quick core scenarios: one cell per shard.
const engine = await dockerInfo();
const inCi = Boolean(process.env.CI);
const why = engine ? '' : ' [skipped: no container engine answers `docker info`; kmslab engine start starts one]';

const SHARDS = 3;
const COMMAND = ['run', 'enable-new', 'rotate', 'enable-existing', '--secrets', '6'];
const JOB = 'kmslab-run';
// A namespace that enforces Pod Security's `restricted` profile: the manifest's pods must need no more.
const NS = 'kmslab-shards';
// Three labs in pods beside the node's control plane (which asks ~0.85 CPU of this 2-core machine's 2).
const RESOURCES = ['--cpu', '300m', '--memory', '1536Mi'];

let lab: KindLab;
let dir: string;
const times: Record<string, number> = {};
let job: { outcome: string; pods: Array<{ index: string; phase: string }> };
let single: { exitCode: number; report: RunReport; result: ShardFile };

const kubectl = (args: string[], input?: string) =>
  lab.cli.nodeExec(lab.cluster, ['kubectl', '--kubeconfig', '/etc/kubernetes/admin.conf', '-n', NS, ...args], input);
const cli = (args: string[]) => kmslab(args, { cwd: dir });
const out = (r: { stdout?: unknown; stderr?: unknown }) => `${String(r.stdout)}${String(r.stderr)}`;
const file = (name: string, text?: string) => {
  if (text !== undefined) writeFileSync(join(dir, name), text);
  return join(dir, name);
};
/** The pods' logs as the manifest's comment says to collect them, for the pods `selector` adds to the Job's. */
const podLogs = (selector = '') =>
  kubectl(['logs', '-l', `job-name=${JOB}${selector}`, '--tail=-1', '--prefix', '--ignore-errors']);
const timed = async <T>(what: string, run: () => Promise<T>): Promise<T> => {
  const started = Date.now();
  try {
    return await run();
  } finally {
    times[what] = Math.round((Date.now() - started) / 100) / 10;
  }
};

// A scenario as a cell shows it: its name, backend, outcome, and each step's name and outcome.
const cells = (r: RunReport) =>
  r.scenarios.map((s) => ({
    name: s.name,
    backend: s.backend,
    outcome: s.outcome,
    steps: s.steps.map((st) => [st.name, st.outcome]),
  }));

/** The Job's final condition and each pod's index and phase. */
async function jobEnd(): Promise<typeof job> {
  const outcome = await poll(
    async () => {
      const status = JSON.parse(await kubectl(['get', 'job', JOB, '-o', 'jsonpath={.status}'])) as {
        conditions?: Array<{ type: string; status: string }>;
      };
      return status.conditions?.find((c) => ['Complete', 'Failed'].includes(c.type) && c.status === 'True')?.type;
    },
    { timeoutMs: 600_000, intervalMs: 2_000, what: `Job ${JOB} to complete or fail` },
  );
  const pods = JSON.parse(await kubectl(['get', 'pods', '-l', `job-name=${JOB}`, '-o', 'json'])) as {
    items: Array<{ metadata: { labels: Record<string, string> }; status: { phase: string } }>;
  };
  return {
    outcome,
    pods: pods.items
      .map((p) => ({ index: p.metadata.labels['batch.kubernetes.io/job-completion-index']!, phase: p.status.phase }))
      .sort((a, b) => a.index.localeCompare(b.index)),
  };
}

test.runIf(inCi && !engine)('CI has a container engine for the Indexed Job on kind', () => {
  expect.fail('no container engine answers `docker info` in CI: .ci/run starts one with `kmslab engine start`');
});

describe.skipIf(!engine)(`kmslab's shards as an Indexed Job on kind, merged from the pods' logs${why}`, () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kmslab-indexed-job-'));
    await timed('image', () => kmslabImage());
    lab = await timed('kind lab', () => KindLab.start({ name: uniqueName('ijob'), removeOnClose: true }));
    await timed('image load', () => lab.loadImages([KMSLAB_IMAGE]));
    await kubectl(['create', 'namespace', NS]);
    await kubectl(['label', 'namespace', NS, 'pod-security.kubernetes.io/enforce=restricted']);
    const manifest = await cli([
      'job',
      'manifest',
      '--shards',
      String(SHARDS),
      '--namespace',
      NS,
      ...RESOURCES,
      '--',
      ...COMMAND,
    ]);
    expect(manifest.exitCode, out(manifest)).toBe(0);
    await kubectl(['apply', '-f', '-'], String(manifest.stdout));
    // The same cells run once on the host meanwhile: the single run the merge must equal.
    const host = timed('single run on the host', () =>
      cli([...COMMAND, '--json', 'single.json', '--result', 'single-result.json']),
    );
    job = await timed('job', jobEnd);
    const r = await host;
    single = {
      exitCode: r.exitCode ?? -1,
      report: JSON.parse(readFileSync(file('single.json'), 'utf8')) as RunReport,
      result: JSON.parse(readFileSync(file('single-result.json'), 'utf8')) as ShardFile,
    };
    file('pods.log', await podLogs());
  }, 1_800_000);

  afterAll(async () => {
    console.log(`indexed job on kind, seconds: ${JSON.stringify(times)}`);
    await lab?.close();
  }, 300_000);

  test('the Job completes in a namespace enforcing Pod Security `restricted`: one pod per shard, each succeeded', () => {
    expect(job).toEqual({
      outcome: 'Complete',
      pods: ['0', '1', '2'].map((index) => ({ index, phase: 'Succeeded' })),
    });
  });

  test('each pod ran the shard of its index, of the single run’s spec', () => {
    const log = readShardLog(readFileSync(file('pods.log'), 'utf8'), 'pods.log');
    expect(log.notes).toEqual([]);
    const shards = log.results.map((r) => JSON.parse(r.bytes.toString('utf8')) as ShardFile);
    expect(shards.map((s) => s.shard).sort((a, b) => a.index - b.index)).toEqual(
      [1, 2, 3].map((index) => ({ index, count: SHARDS })),
    );
    for (const s of shards) {
      expect(s.specHash).toBe(single.result.specHash);
      expect(s.cells).toHaveLength(1);
    }
    expect(shards.flatMap((s) => s.cells).sort()).toEqual([...single.result.cells].sort());
  });

  test('kmslab merge of the pods’ logs equals the single run, cell for cell', async () => {
    expect(single.exitCode).toBe(0);
    const merged = await timed('merge', () => cli(['merge', file('pods.log'), '--json', 'merged.json']));
    expect(merged.exitCode, out(merged)).toBe(0);
    const report = JSON.parse(readFileSync(file('merged.json'), 'utf8')) as RunReport;
    expect(cells(report)).toEqual(cells(single.report));
    expect(report.scenarios.map((s) => [s.name, s.outcome]).sort()).toEqual(
      ['enable-existing', 'enable-new', 'rotate'].map((name) => [name, 'passed']),
    );
  });

  test('one pod’s log missing: the merge fails naming its shard', async () => {
    const r = await cli(['merge', file('two-pods.log', await podLogs(',batch.kubernetes.io/job-completion-index!=1'))]);
    expect(r.exitCode).toBe(2);
    expect(out(r)).toMatch(/shard 2\/3 is missing: rerun it \(kmslab run … --shard 2\/3\)/);
  });

  test('a foreign shard in place of one: the merge fails naming it and what differs', async () => {
    // Shard 3/3 of the same scenarios with another Secret count, as a pod would print it (here on the sim).
    const foreign = await kmslab(
      ['job', 'shard', '--shards', '3', '--', ...COMMAND.slice(0, -1), '7', '--backend', 'sim'],
      { cwd: dir, env: { JOB_COMPLETION_INDEX: '2' } },
    );
    expect(foreign.exitCode, out(foreign)).toBe(0);
    const two = await podLogs(',batch.kubernetes.io/job-completion-index!=2');
    const r = await cli(['merge', file('two-pods.log', two), file('foreign.log', String(foreign.stdout))]);
    expect(r.exitCode).toBe(2);
    expect(out(r)).toMatch(/different specs \(.*foreign\.log:\d+\)/);
  });

  test('nothing was pulled: the node’s containerd and kubelet journals show no pull attempt', async () => {
    const journal = await lab.pullAttempts();
    expect(journal.linesRead).toBeGreaterThan(0);
    expect(journal.pulls).toEqual([]);
  });
});
