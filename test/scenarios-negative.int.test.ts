import { describe, expect, test } from 'vitest';
import { isolateHome } from './support/env.js';
import { NEGATIVE_CASES, failedStep, runNegative } from './support/negative-cases.js';

isolateHome();

// Each scenario must fail when its claim is false, on the real control plane; the sim must fail the same way.
describe.concurrent('each scenario fails when its claim is false (local backend, and the sim agrees)', () => {
  test.each(NEGATIVE_CASES.map((c) => [`${c.scenario} fails on ${c.title}`, c] as const))('%s', async (_title, c) => {
    const [local, sim] = await Promise.all([runNegative(c, 'local'), runNegative(c, 'sim')]);
    for (const [backend, r] of [
      ['local', local],
      ['sim', sim],
    ] as const) {
      const failed = failedStep(r);
      expect(r.outcome, backend).toBe('failed');
      if (typeof c.step === 'string') expect(failed?.name, backend).toBe(c.step);
      else expect(failed?.name, backend).toMatch(c.step);
      expect(failed?.error?.class, `${backend}: ${failed?.error?.message}`).toBe(c.errorClass);
      if (c.message) expect(failed?.error?.message, backend).toMatch(c.message);
    }
    // A rejected reload is seen when it happens (about a minute: the file poll), not as a timeout at the end.
    if (c.scenario === 'enable-existing') expect(failedStep(local)!.durationMs).toBeLessThan(150_000);
  });
});
