import { expect, test } from 'vitest';
import type { ScenarioResult, StepRecord } from '../model.js';
import { toJUnit } from './junit.js';

const step = (name: string, outcome: StepRecord['outcome'] = 'passed'): StepRecord => ({
  name,
  startedAt: '2026-01-01T00:00:00.000Z',
  durationMs: 1500,
  outcome,
  evidence: { note: '<&"\u0001>' },
  ...(outcome === 'failed' ? { error: { message: 'boom <b>', class: 'kms-expired' } } : {}),
});
const scenario = (name: string, steps: StepRecord[], error?: string): ScenarioResult => ({
  name,
  summary: 's',
  proves: 'p',
  tags: [],
  backend: 'local',
  outcome: error || steps.some((s) => s.outcome === 'failed') ? 'failed' : 'passed',
  startedAt: '2026-01-01T00:00:00.000Z',
  durationMs: 4000,
  steps,
  ...(error ? { error } : {}),
});
const count = (xml: string, tag: string, attr: string) =>
  [...xml.matchAll(new RegExp(`<${tag} [^>]*${attr}="(\\d+)"`, 'g'))].map((m) => Number(m[1]));

test('every count is of testcases: a step each, plus one for a scenario that failed outside its steps', () => {
  const xml = toJUnit({
    startedAt: '2026-01-01T00:00:00.000Z',
    durationMs: 9000,
    backend: 'local',
    outcome: 'failed',
    scenarios: [
      scenario('ok', [step('a'), step('b'), step('c')]),
      scenario('failed-step', [step('a'), step('b', 'failed')]),
      scenario('failed-between-steps', [step('a'), step('b')], 'lost the lab'),
      scenario('never-started', [], 'interrupted before its lab was ready'),
    ],
  });
  const testcases = (xml.match(/<testcase /g) ?? []).length;
  const failures = (xml.match(/<failure/g) ?? []).length;
  expect(testcases).toBe(3 + 2 + 3 + 1);
  expect(failures).toBe(3);
  expect(count(xml, 'testsuites', 'tests')).toEqual([testcases]);
  expect(count(xml, 'testsuites', 'failures')).toEqual([failures]);
  expect(count(xml, 'testsuite', 'tests')).toEqual([3, 2, 3, 1]);
  expect(count(xml, 'testsuite', 'failures')).toEqual([0, 1, 1, 1]);
  expect(xml).toContain('interrupted before its lab was ready');
  expect(xml).not.toMatch(/[\u0001]/);
  expect(xml).toContain('boom &lt;b>');
});
