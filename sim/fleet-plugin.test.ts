import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { costOf, runFleet } from './fleet.js';
import { PLUGIN_STYLES, PluginCloudCalls, pluginStyle, type PluginStyle } from './fleet-plugin.js';
import { fleetSpecProblems, FLEET_DEFAULTS } from './fleet-spec.js';

const MIN = 60_000;
const H = 60 * MIN;
const style = (name: string) => PLUGIN_STYLES.find((s) => s.name === name)!;

describe('the cloud behind the plugins: what a Status costs', () => {
  test('each style turns a Status into its cloud calls; Encrypt and Decrypt at the socket are one cloud call each', () => {
    const ack = new PluginCloudCalls(H, style('ack'));
    for (const t of [0, 1_000, 2_000]) ack.at(t, 'Status', 1, true, 0);
    ack.at(2_500, 'Encrypt', 1, true, 0);
    ack.at(2_600, 'Decrypt', 4, true);
    ack.finish();
    expect(ack.calls.answered).toEqual({ Status: 0, Encrypt: 3 + 1, Decrypt: 3 + 4 });
    expect(ack.fromStatus).toBe(6);

    const aws = new PluginCloudCalls(H, style('aws-kmslab'));
    for (const t of [0, 1_000, 2_000]) aws.at(t, 'Status', 1, true, 0);
    aws.finish();
    expect(aws.calls.answered).toEqual({ Status: 0, Encrypt: 3, Decrypt: 0 });

    const cached = new PluginCloudCalls(H, style('status-cache'));
    cached.at(0, 'Status', 1, true, 0);
    cached.finish();
    expect(cached.fromStatus).toBe(0);
  });

  test('a health cache is per plugin (per apiserver): aws-encryption-provider asks at most once per 30 s each', () => {
    const c = new PluginCloudCalls(H, style('aws-encryption-provider'));
    for (const t of [0, 10_000, 20_000, 29_999, 30_000, 45_000, 61_000]) c.at(t, 'Status', 1, true, 0);
    c.at(5_000, 'Status', 1, true, 1);
    c.finish();
    // apiserver 0 asked at 0, 30 s and 61 s; apiserver 1 at 5 s: Encrypt + Decrypt each time.
    expect(c.calls.answered).toEqual({ Status: 0, Encrypt: 4, Decrypt: 4 });
  });

  test('a Status the cloud refuses costs one refused call (the plugin stops at its first failure), never billed', () => {
    const c = new PluginCloudCalls(H, style('ack'));
    c.at(0, 'Status', 1, false, 0);
    c.finish();
    expect(c.calls.refused).toEqual({ Status: 0, Encrypt: 1, Decrypt: 0 });
    expect(c.calls.answered).toEqual({ Status: 0, Encrypt: 0, Decrypt: 0 });
  });

  test('rule, over random fleets and costs: cloud calls = socket Encrypt + Decrypt + Status × the style’s cost', () => {
    fc.assert(
      fc.property(
        fc.record({
          apiservers: fc.integer({ min: 1, max: 4 }),
          objects: fc.integer({ min: 0, max: 2_000 }),
          hours: fc.integer({ min: 1, max: 6 }),
          rotate: fc.boolean(),
          restart: fc.boolean(),
          encrypt: fc.integer({ min: 0, max: 3 }),
          decrypt: fc.integer({ min: 0, max: 3 }),
          probes: fc.boolean(),
        }),
        (f) => {
          const plugin: PluginStyle = { name: 'x', encrypt: f.encrypt, decrypt: f.decrypt, cacheMs: 0, source: '' };
          const r = runFleet(
            {
              apiservers: f.apiservers,
              objects: f.objects,
              durationMs: f.hours * H,
              rotateEveryMs: f.rotate ? 20 * MIN : 0,
              restartEveryMs: f.restart ? 30 * MIN : 0,
              healthCheckEveryMs: f.probes ? 1_000 : 0,
              writesPerSecond: 0.5,
              plugin,
            },
            'v2',
          );
          expect(r.cloud.forStatus).toBe(r.calls.Status * (f.encrypt + f.decrypt));
          expect(r.cloud.calls.Encrypt).toBe(r.calls.Encrypt + r.calls.Status * f.encrypt);
          expect(r.cloud.calls.Decrypt).toBe(r.calls.Decrypt + r.calls.Status * f.decrypt);
          const cost = costOf(r, 0.03);
          expect(cost.total).toBeCloseTo((r.cloud.calls.total / 10_000) * 0.03, 12);
          expect(cost.withoutStatus).toBeCloseTo(((r.calls.Encrypt + r.calls.Decrypt) / 10_000) * 0.03, 12);
        },
      ),
      { numRuns: 40 },
    );
  });

  test('the figures change as the style says: a day of 3 apiservers probed every second', () => {
    const spec = { apiservers: 3, objects: 10_000, durationMs: 24 * H, rotateEveryMs: 6 * H };
    const by = Object.fromEntries(PLUGIN_STYLES.map((s) => [s.name, runFleet({ ...spec, plugin: s }, 'v2')]));
    const socket = by['aws-kmslab']!.calls;
    // The apiservers' calls at the socket do not depend on the plugin.
    for (const r of Object.values(by)) expect(r.calls).toEqual(socket);
    // Status every 20 s (the probe cache) and every minute: one cloud call each, then two, then none.
    expect(by['aws-kmslab']!.cloud.forStatus).toBe(socket.Status);
    expect(by['ack']!.cloud.forStatus).toBe(2 * socket.Status);
    expect(by['status-cache']!.cloud.forStatus).toBe(0);
    expect(by['status-cache']!.cloud.calls.total).toBe(socket.Encrypt + socket.Decrypt);
    // aws-encryption-provider: Encrypt + Decrypt at most once per 30 s per apiserver.
    const aep = by['aws-encryption-provider']!.cloud.forStatus;
    expect(aep).toBeLessThanOrEqual(3 * 2 * Math.ceil((24 * H) / 30_000));
    expect(aep).toBeLessThan(by['ack']!.cloud.forStatus);
    expect(aep).toBeGreaterThan(by['aws-kmslab']!.cloud.forStatus / 2);
    // The cost follows the cloud's calls; the peak too (ACK's two calls per Status at once).
    expect(costOf(by['ack']!, 0.03).total).toBeGreaterThan(costOf(by['aws-kmslab']!, 0.03).total);
    expect(costOf(by['ack']!, 0.03).withoutStatus).toBeCloseTo(costOf(by['status-cache']!, 0.03).total, 12);
    expect(by['ack']!.cloud.peakPerSecond).toBeGreaterThan(by['status-cache']!.cloud.peakPerSecond);
  });

  test('KMS v1 has no Status: its cloud calls are its socket calls, whatever the style', () => {
    const spec = { apiservers: 2, objects: 500, durationMs: 2 * H, writesPerSecond: 1 };
    for (const s of PLUGIN_STYLES) {
      const r = runFleet({ ...spec, plugin: s }, 'v1');
      expect(r.cloud.calls.total).toBe(r.calls.total);
      expect(r.cloud.forStatus).toBe(0);
    }
  });

  test('styles by name or as <encrypts>+<decrypts>[/<cache seconds>]; anything else is a problem naming the forms', () => {
    expect(pluginStyle('ack')).toMatchObject({ encrypt: 1, decrypt: 1, cacheMs: 0 });
    expect(pluginStyle('2+1/30')).toMatchObject({ name: '2+1/30', encrypt: 2, decrypt: 1, cacheMs: 30_000 });
    expect(pluginStyle('0+0')).toMatchObject({ encrypt: 0, decrypt: 0, cacheMs: 0 });
    for (const bad of ['gcp', '1+', '+1', '1+1/', '1+1/30s', '-1+0'])
      expect(pluginStyle(bad)).toEqual({ problem: expect.stringMatching(/is neither a style \(aws-kmslab, ack/) });
    const tooMany = pluginStyle('11+0') as PluginStyle;
    const spec = { ...FLEET_DEFAULTS, apiservers: 1, objects: 1, durationMs: H, plugin: tooMany };
    expect(fleetSpecProblems(spec)).toEqual(['plugin 11+0: 11 Encrypts per Status; give 0 to 10']);
    const longCache = pluginStyle('1+1/90000') as PluginStyle;
    expect(fleetSpecProblems({ ...spec, plugin: longCache })).toEqual([
      'plugin 1+1/90000: a Status cache of 1d1h; give 0 to 1d',
    ]);
  });
});
