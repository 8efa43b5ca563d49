import { expect, test } from 'vitest';
import { labOptionsFor, startLab } from '../harness/index.js';
import { SCENARIOS } from './catalog.js';
import { outline } from './observable.js';
import { runScenarios } from './runner.js';

const run = async (seed: string) =>
  // Outlines compare the backends, so only the scenarios both run.
  runScenarios(
    SCENARIOS.filter((s) => s.needs.apiserver === undefined),
    (s) => startLab({ backend: 'sim', seed, ...labOptionsFor(s.needs) }),
    {
      params: { secrets: 5 },
    },
  );

test('outlines ignore what is random (key_ids, seeds) and see what is observed (calls, key changes, coverage)', async () => {
  const [a, b] = await Promise.all([run('one'), run('two')]);
  let differ = 0;
  for (const s of a.scenarios) {
    const other = b.scenarios.find((x) => x.name === s.name)!;
    if (JSON.stringify(s) !== JSON.stringify(other)) differ++; // other key_ids, uids, seeds
    expect(outline(s), s.name).toEqual(outline(other));
  }
  expect(differ).toBeGreaterThan(3);
  const rotate = a.scenarios.find((s) => s.name === 'rotate')!;
  const o = outline(rotate);
  expect(o.steps.find((s) => s.step === 'rotate the key in the KMS')!.keyIds).toEqual(['A', 'B']);
  expect(o.steps.find((s) => s.step === 'raw etcd: 100% of Secrets on key B')!.coverage).toEqual([
    { classes: { 'kms-v2': 100 }, keyIds: { B: 100 } },
  ]);

  // Each kind of difference shows.
  const changed = structuredClone(rotate);
  const pickup = changed.steps.find((s) => s.name.startsWith('every apiserver picks up key B'))!;
  (pickup.evidence.kmsCalls as Record<string, Record<string, number>>).Encrypt!.OK = 2;
  expect(outline(changed)).not.toEqual(o);
  const sameKey = structuredClone(rotate);
  sameKey.steps.find((s) => s.name === 'rotate the key in the KMS')!.evidence.to = sameKey.steps[0]!.evidence.keyId;
  expect(outline(sameKey)).not.toEqual(o);

  // Refusals: where they begin and with which code, not how many fall into each step.
  const refusing = a.scenarios.find((s) => s.name === 'key-disabled-before-migration')!;
  const r = outline(refusing).refused;
  expect(r.Decrypt).toEqual({ codes: ['FAILED_PRECONDITION'], firstStep: expect.stringMatching(/^disable A/) });
  const later = structuredClone(refusing);
  for (const s of later.steps) {
    const calls = s.evidence.kmsCalls as Record<string, Record<string, number>>;
    if (calls.Decrypt) delete calls.Decrypt.FAILED_PRECONDITION;
  }
  expect(outline(later).refused.Decrypt).toBeUndefined();
}, 30_000); // every scenario on the sim, twice: a few seconds on a busy machine
