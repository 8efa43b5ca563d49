import { describe, expect, test } from 'vitest';
import type { Lab, LabKms } from '../harness/lab.js';
import type { LabCloud } from '../harness/kms/index.js';
import { faultUnavailable, inject } from './nemesis.js';

// A lab whose cloud only records what the nemesis asks of it.
function labWith(cloud: LabCloud | undefined): { lab: Lab; calls: unknown[][] } {
  const calls: unknown[][] = [];
  const kms = {
    status: async () => ({ keyId: 'key-1', listening: true, faults: [], calls: {} }),
    lacks: (c: string) => (c.startsWith('cloud-') && !cloud ? 'needs a cloud KMS behind the plugin' : undefined),
    cloud,
  } as unknown as LabKms;
  return { lab: { kms, backend: 'local', killEtcd: async () => ({}) } as unknown as Lab, calls };
}

function recordingCloud(calls: unknown[][]): LabCloud {
  const rec =
    (name: string, answer: unknown = {}) =>
    async (...args: unknown[]) => {
      calls.push([name, ...args]);
      return answer;
    };
  return {
    name: 'alibaba',
    principal: 'role:AliyunCSManagedSecurityRole',
    keyId: 'cloud-key',
    clusterPermissions: ['encrypt', 'decrypt', 'describe'],
    revoke: rec('revoke', { changed: 1 }),
    grant: rec('grant'),
    disable: rec('disable'),
    enable: rec('enable'),
    addFault: rec('addFault', { id: 'f1' }),
    clearFaults: rec('clearFaults', { cleared: 1 }),
    rotate: rec('rotate'),
  } as unknown as LabCloud;
}

describe('cloud faults of the nemesis', () => {
  test('a lab without a cloud cannot take them, and says why', () => {
    const { lab } = labWith(undefined);
    for (const kind of ['cloud-revoke', 'cloud-disable', 'cloud-throttle', 'cloud-rotate'] as const)
      expect(faultUnavailable(lab, kind)).toBe('needs a cloud KMS behind the plugin'); // said once, not per capability
  });

  test("each acts at the cloud and heals what it did; revoke and disable name the plugin's key_id (not destroyed)", async () => {
    const calls: unknown[][] = [];
    const { lab } = labWith(recordingCloud(calls));
    const revoked = await inject(lab, { at: 0, kind: 'cloud-revoke', durationMs: 1 });
    expect(revoked.keyId).toBe('key-1');
    await revoked.heal();
    const disabled = await inject(lab, { at: 0, kind: 'cloud-disable', durationMs: 1 });
    await disabled.heal();
    const throttled = await inject(lab, { at: 0, kind: 'cloud-throttle', durationMs: 1 });
    await throttled.heal();
    await inject(lab, { at: 0, kind: 'cloud-rotate', durationMs: 0 });
    expect(calls).toEqual([
      ['revoke', { principal: 'role:AliyunCSManagedSecurityRole' }],
      [
        'grant',
        {
          principal: 'role:AliyunCSManagedSecurityRole',
          permissions: ['encrypt', 'decrypt', 'describe'],
          key: 'cloud-key',
        },
      ],
      ['disable'],
      ['enable'],
      ['addFault', { kind: 'throttle' }],
      ['clearFaults', 'f1'],
      ['rotate'],
    ]);
  });
});
