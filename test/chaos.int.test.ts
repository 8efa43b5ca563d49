import { execFileSync } from 'node:child_process';
import { describe, expect, test } from 'vitest';
import { FAULT_KINDS, runChaos } from '../chaos/index.js';
import { packageRoot } from '../harness/common/paths.js';
import { startLab } from '../harness/index.js';
import { isolateHome, uniqueName } from './support/env.js';

const home = isolateHome();
const leftovers = () =>
  execFileSync('ps', ['-eo', 'args='], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes(home));

describe('chaos on the real control plane', () => {
  test('two apiservers, every kind of fault the lab can take: every invariant judged and holding, nothing left running', async () => {
    const lab = await startLab({ name: uniqueName('chaos'), apiservers: 2, removeOnClose: true });
    let report;
    try {
      // A seed whose schedule (deterministic, drawn before the run) holds six kinds, one a plugin failure long
      // enough to judge health in: kms-error, kms-latency, apiservers-restart, key-rotate, plugin-kill, etcd-kill.
      // The cloud's faults need a cloud lab (test/cloud-lab.int.test.ts).
      const faults = FAULT_KINDS.filter((k) => !k.startsWith('cloud-'));
      report = await runChaos(lab, { seed: 'ci-120', durationMs: 120_000, faults, requireFaults: true });
    } finally {
      await lab.close();
    }
    const notHeld = report.invariants.filter((i) => i.verdict !== 'holds');
    expect(notHeld, JSON.stringify(notHeld, null, 2)).toEqual([]);
    expect(report.outcome).toBe('passed');
    // Health was judged on the real apiservers, in both of them, while the plugin failed.
    const health = report.invariants.find((i) => i.name === 'health-agrees-with-plugin')!;
    for (const a of report.apiservers)
      expect((health.measured!.judgedSamples as Record<string, { unhealthy: number }>)[a]!.unhealthy).toBeGreaterThan(
        0,
      );
    expect(new Set(report.faults.map((f) => f.kind)).size).toBeGreaterThanOrEqual(5);
    expect(report.faults.filter((f) => f.error)).toEqual([]);
    expect(report.operations.acknowledged).toBeGreaterThan(500);
    expect(leftovers()).toEqual([]);
  }, 600_000);

  test('a plugin that forgets its keys on restart (run with --plugin-cmd) is caught, naming the lost Secrets', async () => {
    const node = `${process.execPath} --import tsx ${packageRoot}/test/support/broken-plugin.ts`;
    const lab = await startLab({
      name: uniqueName('forget'),
      removeOnClose: true,
      plugin: { command: `${node} serve --socket {socket} --break forgets-on-restart` },
    });
    let report;
    try {
      report = await runChaos(lab, {
        seed: 'forgetful',
        durationMs: 30_000,
        faults: ['plugin-kill'],
        schedule: [{ at: 10_000, kind: 'plugin-kill', durationMs: 0 }],
        // The lost Secrets keep /readyz red for good: no point waiting long for it.
        recoveryTimeoutMs: 30_000,
      });
    } finally {
      await lab.close();
    }
    expect(report.outcome).toBe('failed');
    const served = report.invariants.find((i) => i.name === 'every-apiserver-serves-every-secret')!;
    expect(served.verdict).toBe('violated');
    expect(new Set(served.anomalies.map((v) => v.key))).toContain('cold-0');
    expect(served.anomalies.every((v) => v.name === 'unreadable-after-recovery')).toBe(true);
    expect(served.anomalies.every((v) => v.errorClass === 'kms-decrypt-failed')).toBe(true);
    expect(leftovers()).toEqual([]);
  }, 600_000);
});
