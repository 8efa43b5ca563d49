import type { Lab, LabNeeds } from '../harness/lab.js';

export type { LabNeeds };

export interface ScenarioParams {
  /** Number of Secrets the scenario seeds. */
  secrets: number;
  /** Upper bound for waits on the apiserver (key_id pickup, recovery), in ms. */
  waitTimeoutMs: number;
}

export const DEFAULT_PARAMS: ScenarioParams = { secrets: 24, waitTimeoutMs: 150_000 };

/** A scenario is data plus steps: `run` uses only the Lab and the context, so every backend can run it. */
export interface Scenario {
  name: string;
  summary: string;
  /** What the scenario proves when it passes, in a sentence for the README and reports. */
  proves: string;
  tags: string[];
  needs: LabNeeds;
  run(lab: Lab, ctx: ScenarioContext): Promise<void>;
  /**
   * Where a scenario loaded from the user's file came from. Such a scenario runs in a process of its own (the
   * runner starts it there; `run` is not called in the runner's process).
   */
  origin?: ScenarioOrigin;
}

/** ScenarioOrigin names a scenario in a user's file: the module, and its place in the default export. */
export interface ScenarioOrigin {
  file: string;
  index: number;
}

export type Evidence = Record<string, unknown>;

/** StepRecord is one step as it happened: timing, outcome, evidence, and the error if it failed. */
export interface StepRecord {
  name: string;
  startedAt: string;
  durationMs: number;
  outcome: 'passed' | 'failed';
  evidence: Evidence;
  error?: { message: string; class: string };
}

/** Events the runner emits while it works; the CLI renders them, tests ignore them. */
export type RunEvent =
  | { type: 'scenario-start'; scenario: string }
  | { type: 'lab-ready'; scenario: string; lab: string; seconds: number }
  | { type: 'step-start'; scenario: string; step: string }
  | { type: 'step-end'; scenario: string; step: StepRecord }
  | { type: 'waiting'; scenario: string; step: string; what: string; remainingMs: number }
  | { type: 'scenario-end'; scenario: string; result: ScenarioResult };

export interface ScenarioResult {
  name: string;
  summary: string;
  proves: string;
  tags: string[];
  backend: string;
  /** skipped: the lab cannot do what the scenario needs (`skipped` says what is missing); never a pass. */
  outcome: 'passed' | 'failed' | 'skipped';
  skipped?: string;
  startedAt: string;
  durationMs: number;
  steps: StepRecord[];
  /** Where logs and the report were kept when the scenario failed. */
  artifacts?: string;
  /** Lab left running for a person (--keep). */
  keptLab?: string;
  error?: string;
}

/** ScenarioContext is what a step body gets besides the lab. */
export interface ScenarioContext {
  readonly params: ScenarioParams;
  /** A namespace of the scenario's own. */
  readonly namespace: string;
  /** step runs one recorded step; its error fails the scenario and skips the rest. */
  step<T>(name: string, body: (evidence: Evidence) => Promise<T>): Promise<T>;
  /** wait polls `check` on the lab's clock, reporting a countdown to the renderer. */
  wait<T>(
    what: string,
    check: () => Promise<T | undefined>,
    options?: { timeoutMs?: number; intervalMs?: number },
  ): Promise<T>;
}
