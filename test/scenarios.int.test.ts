import { beforeAll, describe, expect, test } from 'vitest';
import { labOptionsFor, startLab } from '../harness/index.js';
import { unmetNeeds } from '../harness/lab-needs.js';
import { SCENARIOS as ALL, outline, runScenarios, toJUnit, type RunReport } from '../scenarios/index.js';
import { isolateHome, uniqueName } from './support/env.js';

isolateHome();

// The scenarios both backends run (those needing a real apiserver, the model's virtual time or a cloud behind the
// plugin have tests of their own: the cloud ones in test/cloud-lab.int.test.ts). The HA variants of the #138950
// styles (~5 min each) run on demand; their sim runs and negatives are in scenarios/key-disabled-styles.test.ts.
const ON_DEMAND = new Set(['ha-writes-go-on', 'ha-writes-stop']);
const SCENARIOS = ALL.filter(
  (s) => s.needs.apiserver === undefined && !unmetNeeds(s.needs, 'sim') && !ON_DEMAND.has(s.name),
);

// Every scenario on the real control plane, each on its own lab, four at a time so the 3-minute waits overlap;
// then the same scenarios on the sim, for the differential tests below.
let report: RunReport;
let sim: RunReport;
beforeAll(async () => {
  const options = { params: { secrets: 12 }, artifactsDir: 'reports/artifacts' };
  report = await runScenarios(
    SCENARIOS,
    (s) => startLab({ name: uniqueName(s.name.slice(0, 12)), ...labOptionsFor(s.needs) }),
    {
      ...options,
      parallel: 4,
    },
  );
  sim = await runScenarios(
    SCENARIOS,
    (s) => startLab({ backend: 'sim', seed: 'differential', ...labOptionsFor(s.needs) }),
    options,
  );
}, 900_000);

describe('scenarios on the local backend (real etcd + kube-apiserver)', () => {
  test.each(SCENARIOS.map((s) => s.name))('%s passes, every step recorded with evidence', (name) => {
    const result = report.scenarios.find((r) => r.name === name)!;
    const failed = result.steps.find((s) => s.outcome === 'failed');
    expect(failed?.error?.message ?? result.error, `${name} failed at ${failed?.name}`).toBeUndefined();
    expect(result.outcome).toBe('passed');
    expect(result.backend).toBe('local');
    expect(result.steps.length).toBeGreaterThanOrEqual(3);
    // Every step knows what the plugin was asked during it (the audit trail answered at its start and end).
    for (const step of result.steps) expect(step.evidence.kmsCalls, step.name).not.toHaveProperty('unavailable');
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
    // kubernetes#138950, both styles: a not-ok Status with the same key_id keeps writes going past the expiry, a
    // failed one stops them at it; after a restart, only the first style asks for a DEK seed.
    const goOn = ev('disabled-key-writes-go-on', 'writes go on past the');
    expect(goOn.secondsAfterHealthRed as number).toBeGreaterThanOrEqual(195);
    const stop = ev('disabled-key-writes-stop', 'writes fail once the write key expires');
    expect(stop.secondsAfterLastGoodStatus as number).toBeGreaterThanOrEqual(175);
    expect(stop.secondsAfterLastGoodStatus as number).toBeLessThanOrEqual(200);
    expect(ev('disabled-key-writes-stop', 'the audit trail').encryptCalls).toBe(0);
    expect(
      (ev('disabled-key-writes-go-on', 'the audit trail').refusedByMethod as { Encrypt: number }).Encrypt,
    ).toBeGreaterThan(0);
  });

  test('the run renders as JUnit XML with a testcase per step', () => {
    const xml = toJUnit(report);
    const steps = report.scenarios.reduce((n, s) => n + s.steps.length, 0);
    expect(xml.match(/<testcase /g)).toHaveLength(steps);
    expect(xml).toContain('<testsuite name="rotate"');
    expect(xml).not.toContain('<failure');
  });
});

// Differential: the sim is a model of the real apiserver; each scenario must take the same steps with the same
// outcomes, error classes, KMS calls (codes per method, wrapped DEK seeds), key_id transitions and raw-etcd
// coverage on both (scenarios/observable.ts says what is left out and why; docs/sim.md lists what was found).
describe('the sim agrees with the real apiserver', () => {
  test.each(SCENARIOS.map((s) => s.name))('%s: same observable outline, step by step', (name) => {
    const local = report.scenarios.find((r) => r.name === name)!;
    const model = sim.scenarios.find((r) => r.name === name)!;
    expect(model.backend).toBe('sim');
    expect(outline(model)).toEqual(outline(local));
  });
});
