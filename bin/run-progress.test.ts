import { afterEach, beforeEach, expect, test, vi } from 'vitest';
import { runProgress } from './run-progress.js';

// A stand-in for stderr that keeps what was written.
const stream = (tty: boolean) => {
  const written: string[] = [];
  return { out: { isTTY: tty, write: (s: string) => written.push(s) } as unknown as NodeJS.WriteStream, written };
};

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

test('a long step with no wait to count down says it is still running; one that reports waits does not', () => {
  const { out, written } = stream(false);
  const render = runProgress(out);
  render({ type: 'step-start', scenario: 'big', step: 'create 5000 Secrets' });
  render({ type: 'step-start', scenario: 'patient', step: 'wait for key B' });
  for (let s = 0; s < 12; s++) {
    render({
      type: 'waiting',
      scenario: 'patient',
      step: 'wait for key B',
      what: 'key B',
      remainingMs: 150_000 - s * 1000,
    });
    vi.advanceTimersByTime(1000);
  }
  const text = written.join('');
  expect(text).toMatch(/… big: create 5000 Secrets still running \(1\d\.\ds\)/);
  expect(text).not.toMatch(/patient: wait for key B still running/);
  expect(text).toMatch(/… patient: waiting for key B \(150s left\)/);
});

test('off a terminal a scenario gets a live line at most every 30 s, so CI logs stay short', () => {
  const { out, written } = stream(false);
  const render = runProgress(out);
  render({ type: 'step-start', scenario: 'big', step: 'create' });
  vi.advanceTimersByTime(120_000);
  expect(written.filter((l) => l.includes('still running')).length).toBeLessThanOrEqual(4);
  expect(written.filter((l) => l.includes('still running')).length).toBeGreaterThanOrEqual(3);
  render({
    type: 'step-end',
    scenario: 'big',
    step: { name: 'create', startedAt: '', durationMs: 120_000, outcome: 'passed', evidence: {} },
  });
  const before = written.length;
  vi.advanceTimersByTime(60_000);
  expect(written.length).toBe(before);
});
