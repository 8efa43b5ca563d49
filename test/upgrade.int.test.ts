import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { findBinary } from '../harness/binaries/index.js';
import { packageRoot } from '../harness/common/paths.js';
import { labOptionsFor, startLab, type Lab, type StartLabOptions } from '../harness/index.js';
import { K8S_VERSION } from '../harness/images/versions.js';
import { SCENARIOS, runScenario, type ScenarioResult } from '../scenarios/index.js';
import { OLDEST_PINNED } from '../scenarios/upgrade-keeps-data.js';
import { isolateHome, uniqueName } from './support/env.js';

isolateHome();

// upgrade-keeps-data on the oldest pinned kube-apiserver (built from its pins on first use: 8–11 min cold) and the
// current one, on one etcd and plugin; it passes, and fails when an upgrade does not happen.
const scenario = SCENARIOS.find((s) => s.name === 'upgrade-keeps-data')!;

// A fresh machine builds the old release first: it gets its own deadline, not the scenario's.
beforeAll(async () => void (await findBinary('kube-apiserver', { version: OLDEST_PINNED })), 2_400_000);

async function run(options: Partial<StartLabOptions> = {}, prepare = (lab: Lab) => lab): Promise<ScenarioResult> {
  const lab = await startLab({ name: uniqueName('upgrade'), ...labOptionsFor(scenario.needs), ...options });
  try {
    return await runScenario(scenario, prepare(lab), { params: { secrets: 4, waitTimeoutMs: 30_000 } });
  } finally {
    await lab.close();
  }
}
const failed = (r: ScenarioResult) => r.steps.find((s) => s.outcome === 'failed');

describe('data across kube-apiserver releases', () => {
  test('the oldest pinned release is still pinned', () => {
    expect(existsSync(join(packageRoot, 'harness/binaries/go/kube-apiserver/pins', OLDEST_PINNED, 'go.mod'))).toBe(
      true,
    );
    expect(OLDEST_PINNED).not.toBe(K8S_VERSION);
  });

  test(`upgrade-keeps-data passes: ${OLDEST_PINNED} → ${K8S_VERSION} → ${OLDEST_PINNED}`, async () => {
    const r = await run();
    expect(failed(r)?.error?.message ?? r.error).toBeUndefined();
    expect(r.outcome).toBe('passed');
    const upgraded = r.steps.find((s) => s.name.startsWith('upgrade every apiserver'))!;
    expect(Object.values(upgraded.evidence.versions as Record<string, string>)[0]).toMatch(/^v1\.37\./);
  }, 600_000);

  test('it fails when the upgrade leaves the old release running', async () => {
    const r = await run(
      {},
      (lab) =>
        new Proxy(lab, {
          get: (t, p) => (p === 'upgradeApiservers' ? async () => undefined : (Reflect.get(t, p) as unknown)),
        }),
    );
    expect(r.outcome).toBe('failed');
    expect(failed(r)?.name).toMatch(/^upgrade every apiserver/);
    expect(failed(r)?.error?.message).toMatch(new RegExp(`expected ${K8S_VERSION}.*runs ${OLDEST_PINNED}`));
  }, 300_000);

  test('it fails on a lab that did not start on the old release', async () => {
    const r = await run({ k8sVersion: K8S_VERSION });
    expect(r.outcome).toBe('failed');
    expect(failed(r)?.name).toBe(`every apiserver runs ${OLDEST_PINNED}`);
  }, 300_000);
});
