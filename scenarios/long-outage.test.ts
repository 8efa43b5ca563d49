import fc from 'fast-check';
import { afterEach, describe, expect, test } from 'vitest';
import { startLab, labOptionsFor } from '../harness/start-lab.js';
import type { Lab } from '../harness/lab.js';
import { DEK_CACHE } from '../sim/index.js';
import { DEK_CACHE_TTL, longOutage } from './long-outage.js';
import { runScenario, runScenarios } from './runner.js';

const real = { ...DEK_CACHE };
afterEach(() => Object.assign(DEK_CACHE, real));

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
  test('a seed is lost only at a write after its day ran out; without writes every seed outlives the outage', async () => {
    const r = await run('outage');
    expect(r.outcome, r.error).toBe('passed');
    expect(r.backend).toBe('sim');
    const ev = (start: string) => r.steps.find((s) => s.name.startsWith(start))!.evidence;
    expect(ev('the next write sweeps it').readErrorClass).toBe('kms-decrypt-failed');
    // The write key lasts 3 min from the last good Status; writes are probed a minute apart.
    expect(ev('writes fail').minutesIntoOutage as number).toBeLessThanOrEqual(4);
    expect(ev('36 h into the outage').hoursSinceLastPut as number).toBeGreaterThan(24);
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

  test('fails on a cache that never expires (the write sweeps nothing)', async () => {
    DEK_CACHE.ttlMs = Infinity;
    const step = failed(await run('never-expires'));
    expect(step?.name).toMatch(/^the next write sweeps it/);
    expect(step?.error?.class).toBe('assertion');
  });

  test('fails on a cache that drops an entry the moment it expires (no AllowExpiredGet)', async () => {
    DEK_CACHE.servesExpired = false;
    const step = failed(await run('strict'));
    expect(step?.name).toMatch(/^30 s past its day, seed 1 still reads/);
  });

  test('fails on a plugin that does not go away', async () => {
    const stays = (lab: Lab) =>
      new Proxy(lab, {
        get: (t, p) => (p === 'kms' ? { ...t.kms, stopPlugin: async () => undefined } : (Reflect.get(t, p) as unknown)),
      });
    const step = failed(await run('stays', stays));
    expect(step?.name).toMatch(/^the next write sweeps it/);
    expect(step?.error?.class).toBe('assertion');
  });

  test('the rule: in an outage with no write, a seed past its day still reads however long it lasts', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 48 * 60 }), async (minutesPast) => {
        await using lab = await simLab(`rule-${minutesPast}`);
        const ref = { namespace: 'rule', name: 'old' };
        await lab.api.ensureNamespace('rule');
        await lab.api.createSecret(ref, { v: 'x' });
        await lab.apiservers[0]!.restart();
        const decryptedAt = Date.parse((await lab.kms.audit({ method: 'Decrypt', code: 'OK' })).at(-1)!.time);
        await lab.kms.stopPlugin();
        await lab.clock.sleep(decryptedAt + DEK_CACHE_TTL + minutesPast * 60_000 - lab.clock.now());
        expect((await lab.api.readSecret(ref)).data.v?.toString()).toBe('x');
      }),
      { numRuns: 5 },
    );
  });

  test('the rule: a write after a seed’s day ran out sweeps it, and its next read needs the KMS', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 23 * 60 }), async (minutesPast) => {
        await using lab = await simLab(`sweep-${minutesPast}`);
        const ref = { namespace: 'rule', name: 'old' };
        await lab.api.ensureNamespace('rule');
        await lab.api.createSecret(ref, { v: 'x' });
        await lab.apiservers[0]!.restart();
        const decryptedAt = Date.parse((await lab.kms.audit({ method: 'Decrypt', code: 'OK' })).at(-1)!.time);
        await lab.clock.sleep(decryptedAt + DEK_CACHE_TTL + minutesPast * 60_000 - lab.clock.now());
        await lab.api.createSecret({ namespace: 'rule', name: 'sweeper' }, { v: 'y' });
        await lab.kms.stopPlugin();
        await expect(lab.api.readSecret(ref)).rejects.toThrow(/failed to decrypt DEK/);
      }),
      { numRuns: 5 },
    );
  });
});
