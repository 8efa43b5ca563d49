import { expect, test } from 'vitest';
import { GiveUp, poll } from './wait.js';

test('poll returns the first defined value', async () => {
  let n = 0;
  expect(
    await poll(async () => (++n === 3 ? 'done' : undefined), { timeoutMs: 1000, intervalMs: 1, what: 'three' }),
  ).toBe('done');
});

test('poll times out naming what it waited for and the last reason', async () => {
  await expect(
    poll(
      async () => {
        throw new Error('still 503');
      },
      { timeoutMs: 30, intervalMs: 5, what: 'the apiserver' },
    ),
  ).rejects.toThrow(/waiting for the apiserver \(last: still 503\)/);
});

test('GiveUp ends the poll at once', async () => {
  const t = Date.now();
  await expect(
    poll(
      async () => {
        throw new GiveUp('reload rejected');
      },
      { timeoutMs: 10_000, what: 'x' },
    ),
  ).rejects.toThrow('reload rejected');
  expect(Date.now() - t).toBeLessThan(1000);
});

test('abortIf stops the wait when the process died', async () => {
  await expect(
    poll(async () => undefined, {
      timeoutMs: 10_000,
      intervalMs: 1,
      what: 'x',
      abortIf: () => {
        throw new Error('etcd exited');
      },
    }),
  ).rejects.toThrow('etcd exited');
});
