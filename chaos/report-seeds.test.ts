import { expect, test } from 'vitest';
import { chaosSeedsReport, renderChaosSeeds, type ChaosSeedResult } from './report-seeds.js';

const seed = (s: string, outcome: 'passed' | 'failed' | 'inconclusive'): ChaosSeedResult =>
  ({
    seed: s,
    replay: `kmslab chaos --backend sim --seed ${s}`,
    report: {
      seed: s,
      backend: 'sim',
      outcome,
      invariants: [
        {
          name: 'no-lost-acknowledged-write',
          verdict: outcome === 'failed' ? 'violated' : outcome === 'inconclusive' ? 'undecided' : 'holds',
          anomalies: outcome === 'failed' ? [{ name: 'lost-acknowledged-write', key: `k-${s}` }] : [],
          ...(outcome === 'inconclusive' ? { undecided: 'no fault window long enough' } : {}),
        },
      ],
    },
  }) as unknown as ChaosSeedResult;

test('seeds add up as one run: a failed seed fails it, else an undecided one makes it inconclusive', () => {
  expect(chaosSeedsReport('sim', ['1', '2'], [seed('1', 'passed'), seed('2', 'passed')]).outcome).toBe('passed');
  expect(chaosSeedsReport('sim', ['1', '2'], [seed('1', 'inconclusive'), seed('2', 'passed')]).outcome).toBe(
    'inconclusive',
  );
  const r = chaosSeedsReport(
    'sim',
    ['1', '2', '3'],
    [seed('1', 'inconclusive'), seed('2', 'failed'), seed('3', 'passed')],
  );
  expect(r.outcome).toBe('failed');
  expect(r.counts).toEqual({ passed: 1, failed: 1, inconclusive: 1, 'not-run': 0 });
  expect(r.anomalies).toEqual([
    {
      seed: '2',
      invariant: 'no-lost-acknowledged-write',
      anomaly: { name: 'lost-acknowledged-write', key: 'k-2' },
      replay: 'kmslab chaos --backend sim --seed 2',
    },
  ]);
  expect(r.undecided).toEqual([
    {
      seed: '1',
      invariant: 'no-lost-acknowledged-write',
      why: 'no fault window long enough',
      replay: 'kmslab chaos --backend sim --seed 1',
    },
  ]);
  expect(renderChaosSeeds(r)).toContain('replay: kmslab chaos --backend sim --seed 2');
});

test('a seed an interrupted shard never ran fails the run and is named', () => {
  const r = chaosSeedsReport('sim', ['1', '2'], [seed('1', 'passed'), undefined]);
  expect(r.outcome).toBe('failed');
  expect(r.notRun).toEqual(['2']);
  expect(renderChaosSeeds(r)).toMatch(/1 not run \(interrupted\)[\s\S]*not run: seeds 2/);
});
