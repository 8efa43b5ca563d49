import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatDuration } from '../harness/common/duration.js';
import type { KmsCapability, Lab } from '../harness/lab.js';
import { unmetNeeds } from '../harness/lab-needs.js';
import { errorClass } from './error-class.js';
import { interruptibleLab } from './interruptible-lab.js';
import { LabHost } from './isolation/lab-host.js';
import { messageOf } from './isolation/protocol.js';
import type { Failure, Running } from './isolation/scenario-process.js';
import {
  DEFAULT_PARAMS,
  type RunEvent,
  type Scenario,
  type ScenarioParams,
  type ScenarioResult,
  type StepRecord,
} from './model.js';
import { checkLimit, DEFAULT_STEP_TIMEOUT_MS } from './run-limits.js';
import { scenarioContext } from './scenario-context.js';
import { StepLog } from './step-log.js';

export interface RunOptions {
  params?: Partial<ScenarioParams>;
  onEvent?: (event: RunEvent) => void;
  /** Where a failed scenario's logs and report go (a subdir per scenario). Default `artifacts`. */
  artifactsDir?: string;
  /** Leave each lab running when done, for a person to poke at. */
  keep?: boolean;
  /** How many scenarios (each with its own lab) run at once. Default 1, at most 16 (RUN_LIMITS). */
  parallel?: number;
  /**
   * Aborting ends every scenario in flight at once — its waits cut short, its process (scenarios from files)
   * killed, its open step failed as interrupted — and stops their labs (Ctrl-C). The abort reason, an Error, is
   * named in the report.
   */
  signal?: AbortSignal;
  /**
   * How long one step, or the scenario's code between two steps, may run before the scenario fails. Default 10 min
   * (DEFAULT_STEP_TIMEOUT_MS).
   */
  stepTimeoutMs?: number;
  /** The backend the factory starts labs on, for the report (a lab that never started cannot say). */
  backend?: string;
  /**
   * What the labs' KMS will lack (`lacks(capability)` says why, or undefined): a scenario that needs it is reported
   * skipped without starting a lab. Labs are asked again once started.
   */
  lacks?: (capability: KmsCapability) => string | undefined;
}

/** RunReport is a whole run: what each scenario did, step by step. Reports (console, JSON, JUnit) are views of it. */
export interface RunReport {
  startedAt: string;
  durationMs: number;
  backend: string;
  outcome: 'passed' | 'failed';
  scenarios: ScenarioResult[];
}

/**
 * LabFactory starts a lab that fits a scenario's needs; the caller picks the backend, scenarios never do. The
 * signal is the run's: a start in progress should stop what it started when it fires.
 */
export type LabFactory = (scenario: Scenario, signal?: AbortSignal) => Promise<Lab>;

/**
 * runScenarios runs scenarios, each on a fresh lab, up to `parallel` at once (labs are independent, so the
 * 3-minute waits of several scenarios overlap instead of adding up).
 */
export async function runScenarios(
  scenarios: Scenario[],
  makeLab: LabFactory,
  options: RunOptions = {},
): Promise<RunReport> {
  checkedParams(options);
  if (options.parallel !== undefined) checkLimit('parallel', options.parallel, 'parallel');
  const started = Date.now();
  const results: ScenarioResult[] = new Array(scenarios.length);
  let next = 0;
  let backend = options.backend ?? 'unknown';
  const worker = async () => {
    while (next < scenarios.length && !options.signal?.aborted) {
      const index = next++;
      const scenario = scenarios[index]!;
      results[index] = await runOnFreshLab(scenario, makeLab, options, (b) => (backend = b));
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.parallel ?? 1, scenarios.length)) }, worker));
  const ran = results.filter((r) => r !== undefined);
  return {
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    backend,
    // An interrupted run is not a pass, even if what ran passed; a skipped scenario is not a failure.
    outcome: ran.length === scenarios.length && ran.every((r) => r.outcome !== 'failed') ? 'passed' : 'failed',
    scenarios: ran,
  };
}

async function runOnFreshLab(
  scenario: Scenario,
  makeLab: LabFactory,
  options: RunOptions,
  seenBackend: (backend: string) => void,
): Promise<ScenarioResult> {
  const emit = options.onEvent ?? (() => undefined);
  emit({ type: 'scenario-start', scenario: scenario.name });
  const t = Date.now();
  const missing =
    (options.backend ? unmetNeeds(scenario.needs, options.backend) : undefined) ??
    (options.lacks && missingCapabilities(scenario, options.lacks));
  if (missing) {
    const result = skipped(scenario, missing, options.backend ?? 'unknown', t);
    emit({ type: 'scenario-end', scenario: scenario.name, result });
    return result;
  }
  let lab: Lab;
  try {
    lab = await makeLab(scenario, options.signal);
    if (options.signal?.aborted) {
      await lab.close().catch(() => undefined);
      throw new Error('interrupted');
    }
  } catch (error) {
    const result = failedBeforeStart(scenario, error, t, options);
    emit({ type: 'scenario-end', scenario: scenario.name, result });
    return result;
  }
  seenBackend(lab.backend);
  emit({ type: 'lab-ready', scenario: scenario.name, lab: lab.name, seconds: (Date.now() - t) / 1000 });
  let result: ScenarioResult | undefined;
  try {
    // An interrupt ends runScenario at once; the lab is stopped right after.
    result = await runScenario(scenario, lab, { ...options, onEvent: emit, announce: false });
    return result;
  } finally {
    if (options.keep && result && !options.signal?.aborted) result.keptLab = lab.name;
    else await lab.close().catch(() => undefined);
  }
}

/**
 * runScenario runs one scenario on a lab the caller owns (tests use this with a lab they prepared). However the
 * scenario's code ends — it throws, never settles, misses the step deadline, breaks its process, records evidence
 * the reports cannot hold, or proves nothing (no step) — the result says so; the run never passes on its word alone.
 */
export async function runScenario(
  scenario: Scenario,
  lab: Lab,
  options: RunOptions & { announce?: boolean } = {},
): Promise<ScenarioResult> {
  const emit = options.onEvent ?? (() => undefined);
  const params = checkedParams(options);
  if (options.announce !== false) emit({ type: 'scenario-start', scenario: scenario.name });
  const missing = unmetNeeds(scenario.needs, lab.backend) ?? missingCapabilities(scenario, (c) => lab.kms.lacks(c));
  if (missing) {
    const result = skipped(scenario, missing, lab.backend, lab.clock.now());
    emit({ type: 'scenario-end', scenario: scenario.name, result });
    return result;
  }
  const startedAt = new Date(lab.clock.now()).toISOString();
  const t0 = lab.clock.now();
  const deadline = stepDeadline(options.stepTimeoutMs ?? DEFAULT_STEP_TIMEOUT_MS, () => steps);
  const steps: StepLog = new StepLog(lab, scenario.name, emit, deadline.touch);
  let failure = await execute(scenario, lab, steps, params, deadline, { ...options, onEvent: emit });
  if (!failure && steps.openSteps.length) {
    failure = {
      message: `the scenario ended while ${quoted(steps.openSteps)} still ran: await every ctx.step`,
      class: 'error',
    };
  }
  steps.close(failure);
  failure ??= unearned(steps.records);
  const result: ScenarioResult = {
    name: scenario.name,
    summary: scenario.summary,
    proves: scenario.proves,
    tags: scenario.tags,
    backend: lab.backend,
    outcome: failure ? 'failed' : 'passed',
    startedAt,
    durationMs: lab.clock.now() - t0,
    steps: steps.records,
    ...(failure ? { error: failure.message } : {}),
  };
  // An interrupted run keeps no artifacts: the person who stopped it is waiting for the prompt.
  if (failure && !options.signal?.aborted) {
    result.artifacts = await keepArtifacts(lab, result, options.artifactsDir ?? 'artifacts');
  }
  emit({ type: 'scenario-end', scenario: scenario.name, result });
  return result;
}

/**
 * execute runs the scenario's code — in this process, or in its own for a scenario from a file — and returns its
 * failure, if any, as soon as it is known: the code's end, a missed step deadline, or the run's interrupt. Whatever
 * of the code is left is stopped (its waits cut short, its process killed) before this returns.
 */
async function execute(
  scenario: Scenario,
  lab: Lab,
  steps: StepLog,
  params: ScenarioParams,
  deadline: StepDeadline,
  options: RunOptions & { onEvent: (event: RunEvent) => void },
): Promise<Failure | undefined> {
  const stop = new AbortController();
  const interrupted = new Promise<Failure>((resolve) => {
    const onAbort = () => resolve({ message: interruptMessage(options.signal?.reason), class: 'interrupted' });
    if (options.signal?.aborted) onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    stop.signal.addEventListener('abort', () => options.signal?.removeEventListener('abort', onAbort));
  });
  const view = interruptibleLab(lab, stop.signal);
  const namespace = `kmslab-${scenario.name}`;
  let running: Running | undefined;
  const code = (async () => {
    await view.api.ensureNamespace(namespace);
    // A scenario process is bounded by its load timeout until its code starts; the step deadline from then on.
    if (scenario.origin) deadline.cancel();
    running = scenario.origin
      ? (await import('./isolation/scenario-process.js')).runInOwnProcess(
          scenario,
          new LabHost(view, steps),
          { params, namespace },
          options.onEvent,
          deadline.touch,
        )
      : runInThisProcess(scenario, view, steps, params, namespace, options.onEvent);
    return running.done;
  })().catch((error: unknown): Failure => ({ message: messageOf(error), class: errorClass(error) }));
  try {
    return await Promise.race([code, deadline.expired, interrupted]);
  } finally {
    deadline.cancel();
    stop.abort();
    running?.stop();
  }
}

function runInThisProcess(
  scenario: Scenario,
  lab: Lab,
  steps: StepLog,
  params: ScenarioParams,
  namespace: string,
  emit: (event: RunEvent) => void,
): Running {
  const ctx = scenarioContext(params, namespace, lab.clock, {
    begin: (name) => steps.begin(name),
    end: (...end) => steps.end(...end),
    waiting: (step, what, remainingMs) => emit({ type: 'waiting', scenario: scenario.name, step, what, remainingMs }),
  });
  const unhandled = watchUnhandledRejections();
  const done = Promise.resolve()
    .then(() => scenario.run(lab, ctx))
    .then(
      () => undefined,
      (error: unknown): Failure => ({ message: messageOf(error), class: errorClass(error) }),
    );
  return { done: Promise.race([done, unhandled.failure]), stop: unhandled.release };
}

// Node ends the process on an unhandled rejection; while scenarios run here, it fails them instead. It cannot be
// told which scenario caused it, so every scenario running in this process at that moment fails.
const rejectionWatchers = new Set<(reason: unknown) => void>();
const onUnhandledRejection = (reason: unknown) => rejectionWatchers.forEach((watch) => watch(reason));
function watchUnhandledRejections(): { failure: Promise<Failure>; release: () => void } {
  let watcher!: (reason: unknown) => void;
  const failure = new Promise<Failure>((resolve) => {
    watcher = (reason) =>
      resolve({ message: `an unhandled promise rejection while it ran: ${messageOf(reason)}`, class: 'error' });
  });
  if (rejectionWatchers.size === 0) process.on('unhandledRejection', onUnhandledRejection);
  rejectionWatchers.add(watcher);
  return {
    failure,
    release: () => {
      rejectionWatchers.delete(watcher);
      if (rejectionWatchers.size === 0) process.off('unhandledRejection', onUnhandledRejection);
    },
  };
}

interface StepDeadline {
  expired: Promise<Failure>;
  touch: () => void;
  cancel: () => void;
}

/** stepDeadline fails a scenario whose code goes `ms` without beginning or ending a step (restarted at each). */
function stepDeadline(ms: number, steps: () => StepLog): StepDeadline {
  let timer: NodeJS.Timeout | undefined;
  let expire!: (failure: Failure) => void;
  const expired = new Promise<Failure>((resolve) => (expire = resolve));
  const limit = `${formatDuration(ms)} (the step timeout; --step-timeout or stepTimeoutMs sets it)`;
  const touch = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      const log = steps();
      const open = log.openSteps;
      expire({
        class: 'timeout',
        message: open.length
          ? `${quoted(open)} did not finish within ${limit}`
          : `the scenario's code ran ${log.last ? `on after step "${log.last}"` : 'before its first step'} for ${limit} without beginning or ending a step`,
      });
    }, ms);
  };
  touch();
  return { expired, touch, cancel: () => clearTimeout(timer) };
}

/** unearned is why a scenario whose code finished cleanly has still not passed, if it has not. */
function unearned(records: StepRecord[]): Failure | undefined {
  const failed = records.find((s) => s.outcome === 'failed');
  if (failed) {
    return {
      message: `step "${failed.name}" failed (${failed.error?.message ?? 'no message'}) and the scenario's code went on as if it had not`,
      class: failed.error?.class ?? 'error',
    };
  }
  if (records.length === 0) {
    return {
      message:
        'the scenario recorded no step, so it proved nothing: put its actions and checks in ctx.step(name, async (evidence) => …)',
      class: 'error',
    };
  }
  return undefined;
}

const quoted = (names: string[]) => `step${names.length > 1 ? 's' : ''} ${names.map((n) => `"${n}"`).join(', ')}`;

const interruptMessage = (reason: unknown) =>
  reason instanceof Error && reason.name !== 'AbortError' ? `interrupted: ${reason.message}` : 'interrupted';

function checkedParams(options: RunOptions): ScenarioParams {
  const params = { ...DEFAULT_PARAMS, ...options.params };
  checkLimit('secrets', params.secrets, 'params.secrets');
  checkLimit('waitTimeoutMs', params.waitTimeoutMs, 'params.waitTimeoutMs');
  if (options.stepTimeoutMs !== undefined) checkLimit('stepTimeoutMs', options.stepTimeoutMs, 'stepTimeoutMs');
  return params;
}

async function keepArtifacts(lab: Lab, result: ScenarioResult, root: string): Promise<string | undefined> {
  const dir = join(root, `${result.name}-${result.startedAt.replace(/[:.]/g, '-')}`);
  try {
    await mkdir(dir, { recursive: true });
    await lab.collectLogs(join(dir, 'logs'));
    await writeFile(join(dir, 'result.json'), JSON.stringify(result, null, 2));
    return dir;
  } catch {
    return undefined;
  }
}

/** missingCapabilities says what a scenario needs that the KMS lacks ("rotate: needs --rotate-cmd"), or undefined. */
export function missingCapabilities(
  scenario: Scenario,
  lacks: (capability: KmsCapability) => string | undefined,
): string | undefined {
  const missing = (scenario.needs.kms ?? []).flatMap((c) => {
    const why = lacks(c);
    return why ? [`${c}: ${why}`] : [];
  });
  return missing.length ? missing.join('; ') : undefined;
}

function skipped(scenario: Scenario, reason: string, backend: string, t: number): ScenarioResult {
  return {
    name: scenario.name,
    summary: scenario.summary,
    proves: scenario.proves,
    tags: scenario.tags,
    backend,
    outcome: 'skipped',
    skipped: reason,
    startedAt: new Date(t).toISOString(),
    durationMs: 0,
    steps: [],
  };
}

function failedBeforeStart(scenario: Scenario, error: unknown, t: number, options: RunOptions): ScenarioResult {
  return {
    name: scenario.name,
    summary: scenario.summary,
    proves: scenario.proves,
    tags: scenario.tags,
    backend: options.backend ?? 'unknown',
    outcome: 'failed',
    startedAt: new Date(t).toISOString(),
    durationMs: Date.now() - t,
    steps: [],
    error: options.signal?.aborted
      ? 'interrupted before its lab was ready'
      : `the lab did not start: ${(error as Error)?.message ?? String(error)}`,
  };
}
