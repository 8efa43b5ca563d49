import { poll } from '../harness/common/wait.js';
import type { Lab, LabClock } from '../harness/lab.js';

/** Interrupted ends a wait the run no longer needs (Ctrl-C, a missed step deadline, the scenario's end). */
export class Interrupted extends Error {
  constructor() {
    super('interrupted');
    this.name = 'Interrupted';
  }
}

/**
 * interruptibleLab is the lab as a scenario sees it: the same lab, except that its clock's sleeps, timeouts and
 * waits end at once when `signal` fires — a sleep or wait rejects with Interrupted, a timeout is cancelled — so no
 * 150 s wait outlives an interrupted run.
 */
export function interruptibleLab(lab: Lab, signal: AbortSignal): Lab {
  const clock = interruptibleClock(lab.clock, signal);
  return new Proxy(lab, {
    get(target, property) {
      if (property === 'clock') return clock;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

function interruptibleClock(clock: LabClock, signal: AbortSignal): LabClock {
  const sleep = (ms: number) =>
    new Promise<void>((resolve, reject) => {
      if (signal.aborted) return reject(new Interrupted());
      const timer = clock.timeout(ms);
      const stop = () => {
        timer.cancel();
        reject(new Interrupted());
      };
      signal.addEventListener('abort', stop, { once: true });
      void timer.done.then(() => {
        signal.removeEventListener('abort', stop);
        resolve();
      });
    });
  return {
    now: () => clock.now(),
    sleep,
    timeout(ms) {
      const timer = clock.timeout(ms);
      const cancel = () => {
        signal.removeEventListener('abort', cancel);
        timer.cancel();
      };
      if (signal.aborted) timer.cancel();
      else signal.addEventListener('abort', cancel, { once: true });
      return { done: timer.done.finally(() => signal.removeEventListener('abort', cancel)), cancel };
    },
    waitFor: (check, options) =>
      poll(check, {
        ...options,
        clock: { now: () => clock.now(), sleep },
        abortIf: () => {
          if (signal.aborted) throw new Interrupted();
        },
      }),
  };
}
