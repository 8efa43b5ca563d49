import { describe, expect, test } from 'vitest';
import type { AuditRecord } from '../fake-kms/index.js';
import type { InspectRow } from '../harness/inspect/index.js';
import { checkInvariants, type CheckInput } from './checker.js';
import type { HistoryEntry } from './workload.js';

const h = (e: Partial<HistoryEntry> & Pick<HistoryEntry, 'op' | 'key' | 'start'>): HistoryEntry => ({
  end: e.start + 10,
  client: 0,
  apiserver: 'a0',
  outcome: 'ok',
  ...e,
});
const row = (key: string, keyId = 'k1', cls: InspectRow['class'] = 'kms-v2'): InspectRow => ({
  key: `/registry/secrets/kmslab-chaos/${key}`,
  resource: 'secrets',
  bytes: 100,
  modRevision: '1',
  class: cls,
  name: 'kmslab',
  ...(cls === 'kms-v2'
    ? {
        kmsV2: {
          keyId,
          dekSourceType: 'HKDF_SHA256_XNONCE_AES_GCM_SEED',
          encryptedDEKSourceBytes: 60,
          encryptedDataBytes: 200,
          annotationKeys: [],
        },
      }
    : {}),
});
const base = (): CheckInput => ({
  history: [
    h({ op: 'create', key: 'x', start: 0, digest: 'd1' }),
    h({ op: 'update', key: 'x', start: 100, digest: 'd2' }),
    h({ op: 'read', key: 'x', start: 200, digest: 'd2' }),
    h({ op: 'update', key: 'x', start: 300, digest: 'd3', outcome: 'unknown' }),
  ],
  finalReads: [{ apiserver: 'a0', key: 'x', outcome: 'ok', digest: 'd2' }],
  stored: [row('x')],
  providerNames: ['kmslab'],
  liveKeyIds: new Set(['k1']),
  audit: [],
  faults: [{ at: 0, kind: 'key-disable', durationMs: 60_000, appliedAt: 1_000, healedAt: 61_000 }],
  health: [
    { t: 0, apiserver: 'a0', ok: true },
    { t: 30_000, apiserver: 'a0', ok: false },
    { t: 70_000, apiserver: 'a0', ok: true },
  ],
  opTimeoutMs: 10_000,
  maxKmsRatePerSecond: 100,
  healthToleranceMs: 90_000,
  t0: 0,
});
const verdicts = (i: CheckInput) => Object.fromEntries(checkInvariants(i).map((v) => [v.name, v.holds]));

describe('every invariant can fail, on a history that breaks exactly it', () => {
  test('a clean history holds everywhere; an unknown write may or may not have landed', () => {
    expect(Object.values(verdicts(base())).every(Boolean)).toBe(true);
    const landed = base();
    landed.finalReads[0]!.digest = 'd3';
    expect(verdicts(landed)['acknowledged-writes-survive']).toBe(true);
  });

  test.each<[string, (i: CheckInput) => void]>([
    ['acknowledged-writes-survive', (i) => (i.finalReads[0]!.digest = 'd1')], // an acknowledged update lost
    ['acknowledged-writes-survive', (i) => delete i.finalReads[0]!.digest], // the Secret vanished
    ['reads-return-written-values', (i) => (i.history[2]!.digest = 'never-written')],
    [
      'reads-return-written-values',
      (i) => (i.history[2] = h({ op: 'read', key: 'x', start: 200, end: 250, digest: 'd3' })),
    ], // read before the write began
    ['encrypted-at-rest', (i) => (i.stored = [row('x', 'k1', 'identity')])],
    ['encrypted-at-rest', (i) => (i.stored = [row('x', 'k-gone')])],
    [
      'every-apiserver-serves-every-secret',
      (i) => (i.finalReads[0] = { apiserver: 'a0', key: 'x', outcome: 'fail', errorClass: 'kms-decrypt-failed' }),
    ],
    [
      'kms-call-rate-bounded',
      (i) =>
        (i.audit = Array.from(
          { length: 101 },
          (_, n) => ({ seq: n, time: '2026-01-01T00:00:00.500Z', method: 'Decrypt', code: 'OK' }) as AuditRecord,
        )),
    ],
    [
      'health-agrees-with-plugin',
      (i) =>
        (i.health = [
          { t: 0, apiserver: 'a0', ok: true },
          { t: 120_000, apiserver: 'a0', ok: true },
          { t: 1_000, apiserver: 'a0', ok: true },
        ]
          .sort((a, b) => a.t - b.t)
          .concat([
            { t: 200_000, apiserver: 'a0', ok: false },
            { t: 400_000, apiserver: 'a0', ok: false },
          ])),
    ],
  ])('%s', (name, breakIt) => {
    const input = base();
    breakIt(input);
    const v = checkInvariants(input);
    const broken = v.filter((x) => !x.holds).map((x) => x.name);
    expect(broken).toEqual([name]);
    expect(v.find((x) => x.name === name)!.violations.length).toBeGreaterThan(0);
  });
});
