import fc from 'fast-check';
import { afterEach, describe, expect, test } from 'vitest';
import { startLab, labOptionsFor } from '../harness/start-lab.js';
import type { Lab } from '../harness/lab.js';
import { KMS_V2_TIMING } from '../sim/index.js';
import { DEK_CACHE_TTL, longOutage } from './long-outage.js';
import { runScenario, runScenarios } from './runner.js';

const HOUR = 3_600_000;
const ttl = KMS_V2_TIMING.dekCacheTtl;
afterEach(() => {
  KMS_V2_TIMING.dekCacheTtl = ttl;
});

const simLab = (seed: string) => startLab({ backend: 'sim', seed, ...labOptionsFor(longOutage.needs) });
async function run(seed: string, prepare: (lab: Lab) => Lab = (lab) => lab) {
  const lab = await simLab(seed);
  try {
    return await runScenario(longOutage, prepare(lab), { params: { secrets: 4 } });
  } finally {
    await lab.close();
  }
}
const failed = (r: Awaited<ReturnType<typeof run>>) => r.steps.find((s) => s.outcome === 'failed');

describe('long-outage (kubernetes#132967, on the model)', { timeout: 60_000 }, () => {
  test('reads fail seed by seed, 24 h after each seed was last put in the cache, not when the outage began', async () => {
    const r = await run('outage');
    expect(r.outcome, r.error).toBe('passed');
    expect(r.backend).toBe('sim');
    const ev = (start: string) => r.steps.find((s) => s.name.startsWith(start))!.evidence;
    expect(ev('writes fail').writeErrorClass).toBe('kms-write-key-expired');
    expect(ev('writes fail').writesFailAfter as number).toBeLessThanOrEqual(3);
    expect(ev('seed 1 fails').hoursIntoOutage as number).toBeCloseTo(12, 1);
    expect(ev('seed 2 fails').hoursIntoOutage as number).toBeGreaterThan(24);
    expect(ev('seed 2 fails').hoursIntoOutage as number).toBeLessThan(24.1);
  });

  test('it runs only where time is virtual: another backend skips it without starting a lab', async () => {
    const report = await runScenarios(
      [longOutage],
      () => {
        throw new Error('no lab should start');
      },
      { backend: 'local' },
    );
    expect(report.scenarios[0]!.outcome).toBe('skipped');
    expect(report.scenarios[0]!.skipped).toMatch(/only on the sim/);
  });

  test('fails on a read cache that never expires (reads outlive the outage)', async () => {
    KMS_V2_TIMING.dekCacheTtl = Infinity;
    const step = failed(await run('never-expires'));
    expect(step?.name).toMatch(/^seed 1 fails/);
    expect(step?.error?.class).toBe('timeout');
  });

  test('fails on a cache that expires at another age (23 h)', async () => {
    KMS_V2_TIMING.dekCacheTtl = 23 * HOUR;
    const step = failed(await run('23h'));
    expect(step?.name).toMatch(/^seed 1 fails/);
    expect(step?.error?.class).toBe('assertion');
  });

  test('fails on a plugin that does not go away', async () => {
    const stays = (lab: Lab) =>
      new Proxy(lab, {
        get: (t, p) => (p === 'kms' ? { ...t.kms, stopPlugin: async () => undefined } : (Reflect.get(t, p) as unknown)),
      });
    const step = failed(await run('stays', stays));
    expect(step?.name).toMatch(/^writes fail once the write key expires/);
    expect(step?.error?.class).toBe('timeout');
  });

  test('the rule: a seed read through a Decrypt fails a day after that Decrypt, whenever the outage begins', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 23 * 60 }), async (minutesBefore) => {
        await using lab = await simLab(`rule-${minutesBefore}`);
        const ref = { namespace: 'rule', name: 'old' };
        await lab.api.ensureNamespace('rule');
        await lab.api.createSecret(ref, { v: 'x' });
        await lab.apiservers[0]!.restart();
        const decrypts = await lab.kms.audit({ method: 'Decrypt', code: 'OK' });
        const decryptedAt = Date.parse(decrypts.at(-1)!.time);
        await lab.clock.sleep(DEK_CACHE_TTL - minutesBefore * 60_000 - (lab.clock.now() - decryptedAt));
        await lab.kms.stopPlugin();
        await lab.api.readSecret(ref); // reads still work: the entry has minutesBefore left
        await lab.clock.sleep(minutesBefore * 60_000 - 1_000);
        await lab.api.readSecret(ref);
        await lab.clock.sleep(1_000);
        await expect(lab.api.readSecret(ref)).rejects.toThrow(/failed to decrypt DEK/);
      }),
      { numRuns: 6 },
    );
  });
});
