import { beforeAll, describe, expect, test } from 'vitest';
import { labOptionsFor, startLab } from '../harness/index.js';
import { SCENARIOS, runScenarios, toJUnit, type RunReport } from '../scenarios/index.js';
import { isolateHome, uniqueName } from './support/env.js';

isolateHome();

// Every scenario on the real control plane, each on its own lab, four at a time so the 3-minute waits overlap.
describe('scenarios on the local backend (real etcd + kube-apiserver)', () => {
  let report: RunReport;
  beforeAll(async () => {
    report = await runScenarios(
      SCENARIOS,
      (s) => startLab({ name: uniqueName(s.name.slice(0, 12)), ...labOptionsFor(s.needs) }),
      {
        parallel: 4,
        params: { secrets: 12 },
        artifactsDir: 'reports/artifacts',
      },
    );
  }, 900_000);

  test.each(SCENARIOS.map((s) => s.name))('%s passes, every step recorded with evidence', (name) => {
    const result = report.scenarios.find((r) => r.name === name)!;
    const failed = result.steps.find((s) => s.outcome === 'failed');
    expect(failed?.error?.message ?? result.error, `${name} failed at ${failed?.name}`).toBeUndefined();
    expect(result.outcome).toBe('passed');
    expect(result.backend).toBe('local');
    expect(result.steps.length).toBeGreaterThanOrEqual(4);
    for (const step of result.steps) expect(step.evidence).toHaveProperty('kmsCalls');
  });

  test('the measured KMS behaviour matches the apiserver constants', () => {
    const ev = (scenario: string, step: string) =>
      report.scenarios.find((r) => r.name === scenario)!.steps.find((s) => s.name.startsWith(step))!.evidence;
    const expiry = ev('kms-outage', 'writes fail once the write key expires');
    expect(expiry.secondsAfterLastGoodStatus as number).toBeGreaterThanOrEqual(175);
    expect(expiry.secondsAfterLastGoodStatus as number).toBeLessThanOrEqual(200);
    expect(ev('kms-outage', '/healthz/kms-providers fails').seconds as number).toBeLessThanOrEqual(30);
    expect(ev('kms-outage-restart', 'every Secret read and write fails').readErrorClass).toBe('kms-not-primed');
    expect(ev('key-disabled-before-migration', 'Secrets on A fail').readErrorClass).toBe('kms-decrypt-failed');
  });

  test('the run renders as JUnit XML with a testcase per step', () => {
    const xml = toJUnit(report);
    const steps = report.scenarios.reduce((n, s) => n + s.steps.length, 0);
    expect(xml.match(/<testcase /g)).toHaveLength(steps);
    expect(xml).toContain('<testsuite name="rotate"');
    expect(xml).not.toContain('<failure');
  });
});
