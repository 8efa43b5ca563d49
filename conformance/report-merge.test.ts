import { expect, test } from 'vitest';
import type { ScenarioResult } from '../scenarios/index.js';
import type { CheckResult } from './check-runner.js';
import { conformanceCellOf, mergeConformance, type ConformanceShardContext } from './report-merge.js';

const check = (id: string, outcome: CheckResult['outcome'], extra: Partial<CheckResult> = {}): CheckResult => ({
  id,
  title: id,
  phase: id.startsWith('scenario-') ? 'scenario' : 'protocol',
  level: 'required',
  source: 'test',
  outcome,
  durationMs: 1,
  ...extra,
});
const scenario = (name: string, outcome: ScenarioResult['outcome']): ScenarioResult => ({
  name,
  summary: name,
  proves: name,
  tags: ['plugin'],
  backend: 'local',
  outcome,
  startedAt: '2026-12-07T10:00:00.000Z',
  durationMs: 5,
  steps: [{ name: 'a step', startedAt: '2026-12-07T10:00:00.000Z', durationMs: 5, outcome: 'passed', evidence: {} }],
});
const shard = (
  startedAt: string,
  durationMs: number,
  o: Partial<ConformanceShardContext> = {},
): ConformanceShardContext => ({
  startedAt,
  durationMs,
  plugin: { hooks: [] },
  strict: false,
  requireAll: false,
  artifacts: `/a/${startedAt}`,
  ...o,
});

test('checks in the run order, scenarios joined as one run, the span from the first start to the last end', () => {
  const report = mergeConformance(
    [
      { check: check('status-answers', 'passed') },
      { check: check('scenario-rotate', 'passed'), scenario: scenario('rotate', 'passed') },
      { check: check('scenario-enable-new', 'passed'), scenario: scenario('enable-new', 'passed') },
    ],
    [shard('2026-12-07T10:00:00.000Z', 1000), shard('2026-12-07T10:00:05.000Z', 2000)],
    false,
  );
  expect(report.outcome).toBe('passed');
  expect(report.checks.map((c) => c.id)).toEqual(['status-answers', 'scenario-rotate', 'scenario-enable-new']);
  expect(report.scenarios!.scenarios.map((s) => s.name)).toEqual(['rotate', 'enable-new']);
  expect(report.durationMs).toBe(7000);
  expect(report.artifacts.split(' ')).toHaveLength(2);
});

test('judged as one run: --require-all fails on a skipped required check; a check never run fails the run', () => {
  const cells = [{ check: check('rotate-new-key-id', 'skipped', { message: 'needs --rotate-cmd' }) }];
  const lenient = mergeConformance(cells, [shard('2026-12-07T10:00:00.000Z', 1)], false);
  expect(lenient.outcome).toBe('passed');
  expect(lenient.notChecked).toEqual([{ id: 'rotate-new-key-id', why: 'needs --rotate-cmd' }]);
  expect(mergeConformance(cells, [shard('2026-12-07T10:00:00.000Z', 1, { requireAll: true })], false).outcome).toBe(
    'failed',
  );
  const cut = mergeConformance([cells[0], undefined], [shard('2026-12-07T10:00:00.000Z', 1)], true);
  expect(cut.outcome).toBe('failed');
  expect(cut.checks).toHaveLength(1);
});

test('a damaged check or scenario in a shard file says what is wrong', () => {
  expect(() => conformanceCellOf({ check: { ...check('x', 'passed'), outcome: 'great' } })).toThrow(
    /its check result is damaged at check\.outcome/,
  );
  expect(() => conformanceCellOf({ check: check('scenario-x', 'passed'), scenario: { name: 3 } })).toThrow(
    /its scenario result is damaged at name/,
  );
});
