import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { KindLab, labOptionsFor, startLab, type Lab } from '../harness/index.js';
import { dockerInfo } from '../harness/engine/index.js';
import { auditPulls } from '../harness/engine/pull-audit.js';
import { engineStatus } from '../harness/engine/docker-engine.js';
import { outline, runScenarios, selectScenarios, type RunReport, type ScenarioOutline } from '../scenarios/index.js';
import { isolateHome, uniqueName } from './support/env.js';

isolateHome();

// End to end on kind and on docker compose, next to the local backend: the core scenarios run on all three at once
// (one scenario at a time, so the long waits overlap), then every step's outline must match the local run's. The
// images are kmslab's own (`kmslab build --images`), and the engine's API log must show that nothing tried to pull.
// In CI (.ci/run starts the engine and builds the images) a missing engine fails; elsewhere these tests are skipped.
const engine = await dockerInfo();
const inCi = Boolean(process.env.CI);
const why = engine ? '' : ' [skipped: no container engine answers `docker info`; kmslab engine start starts one]';

const SECRETS = 12;
const core = selectScenarios([], ['core']);
const reports: Partial<Record<'local' | 'kind' | 'compose', RunReport>> = {};
const nodeJournals: Array<{ lab: string; linesRead: number; pulls: string[] }> = [];
let since: Date;

// Every kind lab reports its node's pull attempts (containerd and kubelet journals) just before it is deleted.
async function kindLab(lab: Lab): Promise<Lab> {
  if (!(lab instanceof KindLab)) return lab;
  const close = lab.close.bind(lab);
  lab.close = async () => {
    nodeJournals.push({ lab: lab.name, ...(await lab.pullAttempts()) });
    await close();
  };
  return lab;
}

test.runIf(inCi && !engine)('CI has a container engine for the kind and compose backends', () => {
  expect.fail('no container engine answers `docker info` in CI: .ci/run starts one with `kmslab engine start`');
});

describe.skipIf(!engine)(`the core scenarios on kind and compose, compared with local${why}`, () => {
  beforeAll(async () => {
    const status = await engineStatus();
    // Audit from the engine's start when kmslab started it (so the image builds are covered), else from now.
    since = status.record ? new Date(status.record.startedAt) : new Date();
    const run = (backend: 'local' | 'kind' | 'compose') =>
      runScenarios(
        core,
        async (s) =>
          kindLab(
            await startLab({
              backend,
              name: uniqueName(`${backend.slice(0, 2)}-${s.name.slice(0, 10)}`),
              removeOnClose: true,
              ...labOptionsFor(s.needs),
            }),
          ),
        { params: { secrets: SECRETS }, artifactsDir: `reports/artifacts-${backend}` },
      ).then((r) => void (reports[backend] = r));
    await Promise.all([run('local'), run('kind'), run('compose')]);
  }, 3_600_000);

  afterAll(() => {
    for (const [backend, r] of Object.entries(reports)) {
      const seconds = r.scenarios.reduce((n, s) => n + s.durationMs, 0) / 1000;
      console.log(`${backend}: ${r.scenarios.length} scenarios, ${seconds.toFixed(0)} s of scenario time`);
    }
  });

  test.each(['kind', 'compose'] as const)('every core scenario passes on %s', (backend) => {
    const report = reports[backend]!;
    expect(report.scenarios.map((s) => s.name)).toEqual(core.map((s) => s.name));
    for (const s of report.scenarios) {
      const failed = s.steps.find((step) => step.outcome === 'failed');
      expect(s.outcome, `${s.name} on ${backend}: ${failed?.name}: ${failed?.error?.message ?? s.error}`).toBe(
        'passed',
      );
      expect(s.backend).toBe(backend);
    }
  });

  // Same steps, outcomes, error classes, DEK seeds wrapped and fetched, refused KMS calls (codes, and the step
  // where they begin), key_id transitions and raw-etcd coverage as the local backend (scenarios/observable.ts says
  // what an outline leaves out and why).
  describe.each(['kind', 'compose'] as const)('%s agrees with local, step by step', (backend) => {
    test.each(core.map((s) => s.name))('%s', (name) => {
      const local = reports.local!.scenarios.find((s) => s.name === name)!;
      const other = reports[backend]!.scenarios.find((s) => s.name === name)!;
      expect(local.outcome, `${name} failed on local`).toBe('passed');
      expect(outline(other)).toEqual<ScenarioOutline>(outline(local));
    });
  });

  test('a missing image fails before anything could pull it, saying what to do', async () => {
    await expect(
      startLab({ backend: 'kind', name: uniqueName('no-image'), image: 'kmslab/kind-node:v0.0.0-missing' }),
    ).rejects.toThrow(/not on this engine: kmslab\/kind-node:v0\.0\.0-missing\. kmslab never pulls images/);
    process.env.KMSLAB_FAKE_KMS_IMAGE = 'kmslab/fake-kms:missing';
    try {
      await expect(startLab({ backend: 'compose', name: uniqueName('no-image') })).rejects.toThrow(
        /not on this engine: kmslab\/fake-kms:missing\. kmslab never pulls images; build them with: kmslab build --images/,
      );
    } finally {
      delete process.env.KMSLAB_FAKE_KMS_IMAGE;
    }
  });

  test('no container is left behind: every kind node and compose project was removed', async () => {
    const left = async (label: string) =>
      String((await execa('docker', ['ps', '-a', '--format', '{{.Names}}', '--filter', `label=${label}`])).stdout)
        .split('\n')
        .filter((n) => n.startsWith('kmslab-'));
    expect(await left('io.x-k8s.kind.cluster')).toEqual([]);
    expect(await left('com.docker.compose.project')).toEqual([]);
  });

  // Last: it covers everything above, the two refused starts included.
  test('nothing tried to pull an image: not dockerd, not a kind node', async () => {
    const audit = await auditPulls(since);
    // The log was read and covers this run (the labs made hundreds of API calls), and holds no pull.
    expect(audit.apiCalls).toBeGreaterThan(100);
    expect(audit.pullAttempts).toEqual([]);
    expect(nodeJournals).toHaveLength(core.length);
    for (const j of nodeJournals) {
      expect(j.linesRead, `${j.lab}: journal read`).toBeGreaterThan(100);
      expect(j.pulls, `${j.lab}: pull attempts in the node`).toEqual([]);
    }
  });
});
