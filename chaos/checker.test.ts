import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { AuditRecord } from '../fake-kms/index.js';
import type { InspectRow } from '../harness/inspect/index.js';
import type { AnomalyName, Operation } from './history/index.js';
import { checkInvariants, type CheckInput } from './checker.js';
import { keyLiveness, PluginView } from './plugin-view.js';

const op = (o: Partial<Operation> & Pick<Operation, 'f' | 'key' | 'start'>): Operation => ({
  process: 0,
  end: o.start + 10,
  apiserver: 'a0',
  type: 'ok',
  ...o,
});
const row = (key: string, keyId = 'k1', cls: InspectRow['class'] = 'kms-v2', name = 'kmslab'): InspectRow => ({
  key: `/registry/secrets/kmslab-chaos/${key}`,
  resource: 'secrets',
  bytes: 100,
  modRevision: '1',
  class: cls,
  name,
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
    op({ f: 'create', key: 'x', start: 0, value: 'd1' }),
    op({ f: 'update', key: 'x', start: 100, value: 'd2' }),
    op({ f: 'read', key: 'x', start: 200, value: 'd2' }),
    op({ f: 'update', key: 'x', start: 300, value: 'd3', type: 'info' }),
    op({ f: 'read', key: 'x', start: 1000, value: 'd2', final: true }),
  ],
  stored: [row('x')],
  providerNames: ['kmslab'],
  keys: { source: 'keyring', known: new Set(['k1', 'k0']), openable: new Set(['k1']) },
  audit: [],
  health: [],
  pluginAnswers: [],
  pluginOutages: [],
  apiservers: [],
  faults: [],
  maxKmsRatePerSecond: 100,
  t0: 0,
});
const verdicts = (i: CheckInput) => Object.fromEntries(checkInvariants(i).map((v) => [v.name, v.verdict]));
const found = (i: CheckInput) =>
  checkInvariants(i).flatMap((v) => v.anomalies.map((a) => [v.name, a.name] as [string, AnomalyName]));

describe('checkInvariants', () => {
  test('a clean run holds everywhere; with no apiserver to judge, health is not judged (not passed)', () => {
    const v = verdicts(base());
    expect(Object.entries(v).filter(([, x]) => x !== 'holds')).toEqual([]);
    const landed = base();
    landed.history[4]!.value = 'd3'; // the write of unknown outcome landed after all
    expect(found(landed)).toEqual([]);
    const sampled = base();
    sampled.apiservers = ['a0'];
    const health = checkInvariants(sampled).find((i) => i.name === 'health-agrees-with-plugin')!;
    expect(health).toMatchObject({ verdict: 'undecided', holds: false });
    expect(health.undecided).toMatch(/too short to judge a0/);
  });

  // Each anomaly lands in its invariant, and only there: the one model judges reads and final state alike.
  test.each<[string, AnomalyName, (i: CheckInput) => void]>([
    ['acknowledged-writes-survive', 'lost-acknowledged-write', (i) => (i.history[4]!.value = 'd1')],
    ['acknowledged-writes-survive', 'lost-acknowledged-write', (i) => delete i.history[4]!.value],
    ['reads-return-written-values', 'stale-read', (i) => (i.history[2]!.value = 'd1')],
    ['reads-return-written-values', 'absent-read', (i) => delete i.history[2]!.value],
    ['reads-return-written-values', 'never-written-read', (i) => (i.history[2]!.value = 'never-written')],
    ['reads-return-written-values', 'never-written-read', (i) => (i.history[2]!.value = 'd3')], // written later
    [
      'reads-return-written-values',
      'failed-write-visible',
      (i) => {
        i.history[1]!.type = 'fail';
        i.history[1]!.error = 'kms-write-key-expired';
        i.history[4]!.value = 'd1';
      },
    ],
    ['encrypted-at-rest', 'plaintext-at-rest', (i) => (i.stored = [row('x', 'k1', 'identity')])],
    ['encrypted-at-rest', 'wrong-provider-at-rest', (i) => (i.stored = [row('x', 'k1', 'kms-v2', 'other')])],
    ['encrypted-at-rest', 'unknown-key-id-at-rest', (i) => (i.stored = [row('x', 'k-never-reported')])],
    ['encrypted-at-rest', 'undecryptable-at-rest', (i) => (i.stored = [row('x', 'k0')])],
    [
      'every-apiserver-serves-every-secret',
      'unreadable-after-recovery',
      (i) => {
        i.history[4]!.type = 'fail';
        i.history[4]!.error = 'kms-decrypt-failed';
        delete i.history[4]!.value;
      },
    ],
    [
      'kms-call-rate-bounded',
      'kms-call-storm',
      (i) =>
        (i.audit = Array.from(
          { length: 101 },
          (_, n) => ({ seq: n, time: '2026-01-01T00:00:00.500Z', method: 'Decrypt', code: 'OK' }) as AuditRecord,
        )),
    ],
    [
      'faults-applied',
      'fault-not-applied',
      (i) =>
        (i.faults = [
          { at: 0, kind: 'apiserver-restart', durationMs: 0, appliedAt: 5, healedAt: 6, error: 'no apiserver 7' },
        ]),
    ],
  ])('%s: %s', (invariant, anomaly, breakIt) => {
    const input = base();
    breakIt(input);
    expect(found(input)).toEqual([[invariant, anomaly]]);
    expect(verdicts(input)[invariant]).toBe('violated');
  });

  test('encrypted-at-rest: a row is flagged exactly when it is not KMS v2 of the provider on a known, openable key', () => {
    const keys = ['k1', 'k2', 'k-disabled', 'k-unknown'];
    const rowArb = fc.record({
      cls: fc.constantFrom<InspectRow['class']>('kms-v2', 'kms-v2', 'identity', 'aescbc', 'unknown'),
      provider: fc.constantFrom('kmslab', 'kmslab', 'other'),
      keyId: fc.constantFrom(...keys),
    });
    fc.assert(
      fc.property(fc.array(rowArb, { maxLength: 12 }), (rows) => {
        const input = base();
        input.stored = rows.map((r, n) => row(`s${n}`, r.keyId, r.cls, r.provider));
        input.keys = { source: 'keyring', known: new Set(['k1', 'k2', 'k-disabled']), openable: new Set(['k1', 'k2']) };
        const expected = rows.map((r) =>
          r.cls === 'identity'
            ? 'plaintext-at-rest'
            : r.cls !== 'kms-v2' || r.provider !== 'kmslab'
              ? 'wrong-provider-at-rest'
              : r.keyId === 'k-unknown'
                ? 'unknown-key-id-at-rest'
                : r.keyId === 'k-disabled'
                  ? 'undecryptable-at-rest'
                  : undefined,
        );
        const invariant = checkInvariants(input).find((i) => i.name === 'encrypted-at-rest')!;
        expect(invariant.anomalies.map((a) => [a.key, a.name])).toEqual(
          rows.flatMap((_, n) => (expected[n] ? [[`/registry/secrets/kmslab-chaos/s${n}`, expected[n]]] : [])),
        );
      }),
    );
  });

  test('kms-call-rate-bounded: flagged exactly when some method exceeds the bound in some second', () => {
    const callArb = fc.record({
      second: fc.integer({ min: 0, max: 3 }),
      method: fc.constantFrom('Status', 'Encrypt', 'Decrypt'),
    });
    fc.assert(
      fc.property(fc.array(callArb, { maxLength: 60 }), fc.integer({ min: 1, max: 10 }), (calls, bound) => {
        const input = base();
        input.maxKmsRatePerSecond = bound;
        input.audit = calls.map(
          (c, n) =>
            ({
              seq: n,
              time: new Date(Date.UTC(2026, 0, 1, 0, 0, c.second)).toISOString(),
              method: c.method,
              code: 'OK',
            }) as AuditRecord,
        );
        const per = new Map<string, number>();
        for (const c of calls) per.set(`${c.method}${c.second}`, (per.get(`${c.method}${c.second}`) ?? 0) + 1);
        const over = [...per.values()].some((n) => n > bound);
        expect(verdicts(input)['kms-call-rate-bounded']).toBe(over ? 'violated' : 'holds');
      }),
    );
  });
});

describe('key_id liveness comes from the KMS, never from what is stored', () => {
  const record = (seq: number, method: AuditRecord['method'], keyId: string, code = 'OK'): AuditRecord => ({
    seq,
    time: '2026-01-01T00:00:00.000Z',
    method,
    uid: '',
    keyId,
    code,
    latencyMs: 1,
    requestBytes: 32,
    responseBytes: 32,
    faults: [],
  });

  test("a plugin of the user's: known = what it wrapped seeds under or opened; a disabled key is not openable", () => {
    const view = new PluginView();
    view.add([
      record(1, 'Encrypt', 'user-k1'),
      record(2, 'Status', 'status-only'), // a Status key_id alone proves no key
      record(3, 'Decrypt', 'user-k0'),
      record(4, 'Encrypt', 'refused', 'PERMISSION_DENIED'),
    ]);
    view.lifecycle.push({ at: 1, keyId: 'user-k0', action: 'disable' });
    const keys = keyLiveness({ keyId: 'user-k1', listening: true, faults: [], calls: {} }, view);
    expect(keys.source).toBe('plugin-reports');
    expect([...keys.known].sort()).toEqual(['user-k0', 'user-k1']);
    expect([...keys.openable]).toEqual(['user-k1']);
    const input = base();
    input.keys = keys;
    input.stored = [row('x', 'user-k1'), row('y', 'user-k0'), row('z', 'never-reported')];
    expect(found(input)).toEqual([
      ['encrypted-at-rest', 'undecryptable-at-rest'],
      ['encrypted-at-rest', 'unknown-key-id-at-rest'],
    ]);
  });

  test('the fake KMS: its keyring says which versions exist and which are enabled', () => {
    const version = (keyId: string, state: 'enabled' | 'disabled' | 'destroyed') =>
      ({ keyId, key: 'k', version: 1, state, primary: false, createdAt: 0, changedAt: 0 }) as const;
    const keys = keyLiveness(
      {
        keyId: 'a',
        listening: true,
        faults: [],
        calls: {},
        versions: [version('a', 'enabled'), version('b', 'disabled'), version('c', 'destroyed')],
      },
      new PluginView(),
    );
    expect([...keys.known]).toEqual(['a', 'b', 'c']);
    expect([...keys.openable]).toEqual(['a']);
  });
});

describe('what the plugin answered, as the apiserver probe takes it', () => {
  const status = (seq: number, o: Partial<AuditRecord> = {}): AuditRecord => ({
    seq,
    time: new Date(Date.UTC(2026, 0, 1, 0, 0, seq)).toISOString(),
    method: 'Status',
    uid: '',
    keyId: 'k1',
    code: 'OK',
    latencyMs: 2,
    requestBytes: 0,
    responseBytes: 10,
    faults: [],
    ...o,
  });

  test.each<[string, Partial<AuditRecord>, 'healthy' | 'unhealthy' | 'ambiguous']>([
    ['a healthy Status', {}, 'healthy'],
    ['a failed call', { code: 'UNAVAILABLE' }, 'unhealthy'],
    ['healthz not ok', { healthz: 'key disabled' }, 'unhealthy'],
    ['answered after the 3 s timeout (a hang)', { latencyMs: 45_000 }, 'unhealthy'],
    ['answered just under the timeout', { latencyMs: 2_900 }, 'ambiguous'],
    ['2.5 s late, inside the timeout', { latencyMs: 2_500 }, 'healthy'],
    ['a key_id no Encrypt answers with (the apiserver cannot rotate to it)', { keyId: 'chaos-lie' }, 'unhealthy'],
    ['an empty key_id', { keyId: '' }, 'unhealthy'],
  ])('%s', (_, o, health) => {
    const view = new PluginView();
    view.add([{ ...status(1), method: 'Encrypt', uid: 'u' }, status(2, o)]);
    expect(view.answers().map((a) => a.health)).toEqual([health]);
  });

  test('records the trail dropped before they were read are counted, not silently skipped', () => {
    const view = new PluginView();
    view.add([status(1), status(2)]);
    view.add([status(7)]);
    expect(view.missed).toBe(4);
    expect(view.seq).toBe(7);
  });
});
