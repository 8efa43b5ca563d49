import type { LabClock } from '../lab.js';
import { poll, sleep } from './wait.js';

/** realClock is wall time, for every backend but sim. */
export const realClock: LabClock = {
  now: () => Date.now(),
  sleep,
  waitFor: (check, options) => poll(check, options),
};
