import { expect, test } from 'vitest';
import { VirtualClock } from './clock.js';

test('sleeps jump virtual time without waiting for real', async () => {
  const clock = new VirtualClock(0);
  const t = Date.now();
  await clock.sleep(180_000);
  expect(clock.now()).toBe(180_000);
  expect(Date.now() - t).toBeLessThan(500);
});

test('timers fire in order while someone sleeps, and never advance time alone', async () => {
  const clock = new VirtualClock(0);
  const fired: number[] = [];
  clock.every(60_000, () => fired.push(clock.now()));
  clock.at(90_000, () => fired.push(-clock.now()));
  await clock.sleep(200_000);
  expect(fired).toEqual([60_000, -90_000, 120_000, 180_000]);
  await new Promise((r) => setTimeout(r, 20));
  expect(clock.now()).toBe(200_000);
});

test('a cancelled timeout does not hold time back or move it', async () => {
  const clock = new VirtualClock(0);
  const deadline = clock.timeout(3_000);
  deadline.cancel();
  await new Promise((r) => setTimeout(r, 20));
  expect(clock.now()).toBe(0);
  const race = await Promise.race([clock.sleep(10).then(() => 'work'), clock.sleep(3_000).then(() => 'timeout')]);
  expect(race).toBe('work');
});

test('the same schedule gives the same order every run', async () => {
  const run = async () => {
    const clock = new VirtualClock(0);
    const out: string[] = [];
    for (const n of ['a', 'b', 'c']) clock.at(1_000, () => out.push(n));
    clock.every(500, () => out.push('tick'));
    await clock.sleep(1_500);
    return out.join(',');
  };
  expect(await run()).toBe(await run());
  // The sleeper due at 1.5 s was scheduled before the 1.5 s tick, so it wakes first and time stops there.
  expect(await run()).toBe('tick,a,b,c,tick');
});

test('cancelling a timeout after it fired does not stop the clock for the others still waiting', async () => {
  const clock = new VirtualClock(0);
  const first = clock.timeout(1_000);
  await first.done;
  first.cancel(); // late: it already fired
  const t = clock.now();
  await clock.sleep(5_000); // would hang forever if the late cancel had counted this sleeper off
  expect(clock.now() - t).toBe(5_000);
});
