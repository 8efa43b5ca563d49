import type { LabClock } from '../lab.js';
import { poll, sleep } from './wait.js';

/** realClock is wall time, for every backend but sim. */
export const realClock: LabClock = {
  now: () => Date.now(),
  sleep,
  timeout(ms) {
    let timer: NodeJS.Timeout | undefined;
    const done = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
    return { done, cancel: () => clearTimeout(timer) };
  },
  waitFor: (check, options) => poll(check, options),
};
