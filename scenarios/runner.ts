import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KmsCapability, Lab } from '../harness/lab.js';
import { auditMark } from './audit-mark.js';
import { errorClass } from './error-class.js';
import {
  DEFAULT_PARAMS,
  type Evidence,
  type RunEvent,
  type Scenario,
  type ScenarioContext,
  type ScenarioParams,
  type ScenarioResult,
  type StepRecord,
} from './model.js';

export interface RunOptions {
  params?: Partial<ScenarioParams>;
  onEvent?: (event: RunEvent) => void;
  /** Where a failed scenario's logs and report go (a subdir per scenario). Default `artifacts`. */
  artifactsDir?: string;
  /** Leave each lab running when done, for a person to poke at. */
  keep?: boolean;
  /** How many scenarios (each with its own lab) run at once. Default 1. */
  parallel?: number;
  /** Aborting stops every lab in flight at once and fails what is still running (Ctrl-C). */
  signal?: AbortSignal;
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
  const missing = options.lacks && missingCapabilities(scenario, options.lacks);
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
  const onAbort = () => void lab.close().catch(() => undefined);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  let result: ScenarioResult | undefined;
  try {
    result = await runScenario(scenario, lab, { ...options, onEvent: emit, announce: false });
    return result;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    if (options.keep && result && !options.signal?.aborted) result.keptLab = lab.name;
    else await lab.close().catch(() => undefined);
  }
}

/** runScenario runs one scenario on a lab the caller owns (tests use this with a lab they prepared). */
export async function runScenario(
  scenario: Scenario,
  lab: Lab,
  options: RunOptions & { announce?: boolean } = {},
): Promise<ScenarioResult> {
  const emit = options.onEvent ?? (() => undefined);
  const params = { ...DEFAULT_PARAMS, ...options.params };
  if (options.announce !== false) emit({ type: 'scenario-start', scenario: scenario.name });
  const missing = missingCapabilities(scenario, (c) => lab.kms.lacks(c));
  if (missing) {
    const result = skipped(scenario, missing, lab.backend, lab.clock.now());
    emit({ type: 'scenario-end', scenario: scenario.name, result });
    return result;
  }
  const steps: StepRecord[] = [];
  const startedAt = new Date(lab.clock.now()).toISOString();
  const t0 = lab.clock.now();
  let currentStep = '';
  const ctx: ScenarioContext = {
    params,
    namespace: `kmslab-${scenario.name}`,
    async step(name, body) {
      currentStep = name;
      emit({ type: 'step-start', scenario: scenario.name, step: name });
      const started = lab.clock.now();
      const mark = await auditMark(lab).catch(
        (e: unknown) => new Error(`audit trail unreadable: ${(e as Error)?.message ?? e}`),
      );
      const evidence: Evidence = {};
      const record = (outcome: StepRecord['outcome'], error?: unknown): StepRecord => ({
        name,
        startedAt: new Date(started).toISOString(),
        durationMs: lab.clock.now() - started,
        outcome,
        evidence,
        ...(error === undefined
          ? {}
          : { error: { message: (error as Error)?.message ?? String(error), class: errorClass(error) } }),
      });
      try {
        const value = await body(evidence);
        evidence.kmsCalls = await kmsCallsAfter(lab, mark);
        const rec = record('passed');
        steps.push(rec);
        emit({ type: 'step-end', scenario: scenario.name, step: rec });
        return value;
      } catch (error) {
        evidence.kmsCalls = await kmsCallsAfter(lab, mark);
        const rec = record('failed', error);
        steps.push(rec);
        emit({ type: 'step-end', scenario: scenario.name, step: rec });
        throw error;
      }
    },
    async wait(what, check, opts = {}) {
      const timeoutMs = opts.timeoutMs ?? params.waitTimeoutMs;
      const deadline = lab.clock.now() + timeoutMs;
      let lastReport = -Infinity;
      return lab.clock.waitFor(
        async () => {
          if (options.signal?.aborted) throw new Error('interrupted');
          const now = lab.clock.now();
          if (now - lastReport >= 1000) {
            lastReport = now;
            emit({ type: 'waiting', scenario: scenario.name, step: currentStep, what, remainingMs: deadline - now });
          }
          return check();
        },
        { timeoutMs, intervalMs: opts.intervalMs ?? 1000, what },
      );
    },
  };

  let error: unknown;
  try {
    await lab.api.ensureNamespace(ctx.namespace);
    await scenario.run(lab, ctx);
  } catch (e) {
    // A lab closed under a running step (Ctrl-C) fails that step with a connection error: say what really happened.
    error = options.signal?.aborted ? new Error(`interrupted (${(e as Error)?.message ?? e})`) : e;
  }
  const result: ScenarioResult = {
    name: scenario.name,
    summary: scenario.summary,
    proves: scenario.proves,
    tags: scenario.tags,
    backend: lab.backend,
    outcome: error === undefined ? 'passed' : 'failed',
    startedAt,
    durationMs: lab.clock.now() - t0,
    steps,
    ...(error === undefined ? {} : { error: (error as Error)?.message ?? String(error) }),
  };
  if (error !== undefined) result.artifacts = await keepArtifacts(lab, result, options.artifactsDir ?? 'artifacts');
  emit({ type: 'scenario-end', scenario: scenario.name, result });
  return result;
}

/** KmsCalls counts the plugin's calls during a step, per method and code, or says why they are unknown. */
export type KmsCalls = Record<string, Record<string, number>> | { unavailable: string };

async function kmsCallsAfter(lab: Lab, afterSeq: number | Error): Promise<KmsCalls> {
  if (afterSeq instanceof Error) return { unavailable: afterSeq.message };
  try {
    const records = await lab.kms.audit({ afterSeq });
    const counts: Record<string, Record<string, number>> = {};
    for (const r of records) {
      const m = (counts[r.method] ??= {});
      m[r.code] = (m[r.code] ?? 0) + 1;
    }
    return counts;
  } catch (error) {
    return { unavailable: `audit trail unreadable: ${(error as Error)?.message ?? error}` };
  }
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
