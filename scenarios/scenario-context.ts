import type { LabClock } from '../harness/lab.js';
import { errorClass } from './error-class.js';
import { snapshotEvidence } from './evidence.js';
import { messageOf } from './isolation/protocol.js';
import type { Evidence, ScenarioContext, ScenarioParams, StepRecord } from './model.js';

/**
 * StepHooks is where a context reports its steps: the runner's step log, directly or from another process. Once
 * the scenario has ended, `begin` answers undefined and `end` false.
 */
export interface StepHooks {
  begin(name: string): Promise<number | undefined>;
  end(id: number, outcome: StepRecord['outcome'], evidence: Evidence, error?: StepRecord['error']): Promise<boolean>;
  waiting(step: string, what: string, remainingMs: number): void;
}

// What a step of a scenario that has ended gives its code: nothing, ever. The result is written; code left running
// (a step nobody awaited, an interrupted wait) goes quiet instead of failing into nobody's hands.
const over = <T>() => new Promise<T>(() => undefined);

/** EvidenceError fails a step whose evidence the reports could not hold. */
export class EvidenceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EvidenceError';
  }
}

/**
 * scenarioContext is the `ctx` a scenario's code gets. Each step's evidence is recorded as a JSON snapshot when the
 * step ends; evidence that cannot be one fails the step. Waits run on the given clock (the runner's, which an
 * interrupted run cuts short).
 */
export function scenarioContext(
  params: ScenarioParams,
  namespace: string,
  clock: LabClock,
  hooks: StepHooks,
): ScenarioContext {
  let currentStep = '';
  return {
    params,
    namespace,
    async step<T>(name: string, body: (evidence: Evidence) => Promise<T>): Promise<T> {
      currentStep = name;
      const id = await hooks.begin(name);
      if (id === undefined) return over<T>();
      const evidence: Evidence = {};
      let value: T | undefined;
      let failure: { error: unknown } | undefined;
      try {
        value = await body(evidence);
      } catch (error) {
        failure = { error };
      }
      const snapshot = snapshotEvidence(evidence);
      if (!snapshot.ok && !failure) failure = { error: new EvidenceError(snapshot.problem) };
      const recorded = await hooks.end(
        id,
        failure ? 'failed' : 'passed',
        snapshot.ok ? snapshot.evidence : { unrecorded: snapshot.problem },
        failure ? { message: messageOf(failure.error), class: errorClass(failure.error) } : undefined,
      );
      if (!recorded) return over<T>();
      if (failure) throw failure.error;
      return value as T;
    },
    async wait(what, check, opts = {}) {
      const timeoutMs = opts.timeoutMs ?? params.waitTimeoutMs;
      const deadline = clock.now() + timeoutMs;
      let lastReport = -Infinity;
      return clock.waitFor(
        async () => {
          const now = clock.now();
          if (now - lastReport >= 1000) {
            lastReport = now;
            hooks.waiting(currentStep, what, deadline - now);
          }
          return check();
        },
        { timeoutMs, intervalMs: opts.intervalMs ?? 1000, what },
      );
    },
  };
}
