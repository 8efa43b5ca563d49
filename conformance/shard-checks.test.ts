import { describe, expect, test } from 'vitest';
import { runChecks, type CheckResult } from './check-runner.js';
import { ALL_CHECKS } from './checks.js';
import { MUTANTS, PluginDouble, type Mutation } from './plugin-double.test-helper.js';
import { shardChecks } from './shard-checks.js';

const verdict = (r: CheckResult | undefined) => r && { outcome: r.outcome, because: r.because };
const run = (mutation: Mutation, phases?: ReturnType<typeof shardChecks>) => {
  const d = new PluginDouble(mutation);
  return runChecks(d, { lacks: () => undefined, settleMs: 4_000, clock: d.clock, ...(phases ? { phases } : {}) });
};

// A shard of a conformance run reports some checks; each must reach the verdict it reaches in the whole run — also
// for a broken plugin, whose death or stuck key in one check changes what later checks can see.
describe('a check run in a shard, with what it builds on, reaches its whole-run verdict', () => {
  test.each([['a correct plugin', {}], ...Object.entries(MUTANTS).map(([name, m]) => [name, m.mutation])] as Array<
    [string, Mutation]
  >)('%s', async (_, mutation) => {
    const whole = new Map((await run(mutation)).map((r) => [r.id, r]));
    for (const check of ALL_CHECKS) {
      const alone = await run(
        mutation,
        shardChecks((id) => id === check.id),
      );
      expect(verdict(alone.find((r) => r.id === check.id)), check.id).toEqual(verdict(whole.get(check.id)));
    }
  });

  test('a shard runs the checks up to its last one, in run order, and nothing for scenarios alone', () => {
    const ids = ALL_CHECKS.map((c) => c.id);
    const ran = (reported: string[]) =>
      shardChecks((id) => reported.includes(id)).flatMap(([, checks]) => checks.map((c) => c.id));
    expect(ran(['status-key-id', 'roundtrip-seed'])).toEqual(ids.slice(0, ids.indexOf('roundtrip-seed') + 1));
    expect(ran(['enable-restores'])).toEqual(ids.slice(0, ids.indexOf('enable-restores') + 1));
    expect(ran(['scenario-rotate'])).toEqual([]);
  });
});
