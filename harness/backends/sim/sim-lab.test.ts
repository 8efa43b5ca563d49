import { describe, expect, test } from 'vitest';
import { SCENARIOS, runScenarios } from '../../../scenarios/index.js';
import { labOptionsFor } from '../../start-lab.js';
import { unmetNeeds } from '../../lab-needs.js';
import { SimLab } from './sim-lab.js';

// The sim is a model; whether it agrees with the real apiserver is tested in test/scenarios.int.test.ts. Here:
// it runs every scenario it models quickly, in virtual time, and a seed replays a run exactly.
const MODELLED = SCENARIOS.filter((s) => !unmetNeeds(s.needs, 'sim'));
const run = (seed: string) =>
  runScenarios(MODELLED, (s) => SimLab.start({ seed, ...labOptionsFor(s.needs) }), {
    params: { secrets: 12 },
    artifactsDir: 'reports/artifacts',
  });

describe('the sim backend', { timeout: 60_000 }, () => {
  test('runs every scenario to a pass in virtual time', async () => {
    const t = performance.now();
    const report = await run('unit');
    const wall = performance.now() - t;
    for (const s of report.scenarios) expect(s.outcome, `${s.name}: ${s.error}`).toBe('passed');
    expect(report.backend).toBe('sim');
    // kms-outage alone covers more than three minutes of (virtual) time.
    expect(report.scenarios.find((s) => s.name === 'kms-outage')!.durationMs).toBeGreaterThan(180_000);
    expect(wall).toBeLessThan(report.scenarios.reduce((n, s) => n + s.durationMs, 0) / 100);
  });

  test('the same seed replays a run exactly; another seed draws other keys', async () => {
    const strip = (r: Awaited<ReturnType<typeof run>>) => JSON.stringify(r.scenarios);
    const [a, b, c] = [await run('replay'), await run('replay'), await run('other')];
    expect(strip(a)).toBe(strip(b));
    expect(strip(a)).not.toBe(strip(c));
  });
});
