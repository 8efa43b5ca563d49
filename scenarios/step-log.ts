import type { Lab } from '../harness/lab.js';
import { auditMark } from './audit-mark.js';
import type { Evidence, RunEvent, StepRecord } from './model.js';
import { metricsDelta, scrapeMetrics, type MetricsScrape } from './step-metrics.js';

/** KmsCalls counts the plugin's calls during a step, per method and code, or says why they are unknown. */
export type KmsCalls = Record<string, Record<string, number>> | { unavailable: string };

interface OpenStep {
  name: string;
  started: number;
  mark: Promise<number | Error>;
  metrics: Promise<MetricsScrape>;
}

/**
 * StepLog records a scenario's steps as its code begins and ends them (in this process or reported from the
 * scenario's own): timing, outcome, evidence, the KMS calls made meanwhile and what each apiserver's encryption
 * metrics did (`metrics`: counter deltas, cache sizes). When the scenario is cut short
 * (a deadline, an interrupt, its process gone) the steps still open are closed as failed, with the reason; once
 * closed, the log takes no more steps, so code left running cannot add to a finished report.
 */
export class StepLog {
  readonly records: StepRecord[] = [];
  /** The step last begun or ended, for messages about the code between steps. */
  last: string | undefined;
  private readonly open = new Map<number, OpenStep>();
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly lab: Lab,
    private readonly scenario: string,
    private readonly emit: (event: RunEvent) => void,
    /** Called at every step boundary: the step deadline counts from there. */
    private readonly onProgress: () => void = () => undefined,
  ) {}

  get openSteps(): string[] {
    return [...this.open.values()].map((s) => s.name);
  }

  /** begin opens a step; undefined when the scenario has ended (code left running gets no more steps). */
  async begin(name: string): Promise<number | undefined> {
    if (this.closed) return undefined;
    const id = this.nextId++;
    // The step's code starts once the mark is read, so every KMS call it causes comes after the mark.
    const mark = auditMark(this.lab).catch(
      (e: unknown) => new Error(`audit trail unreadable: ${(e as Error)?.message ?? e}`),
    );
    // Each apiserver's encryption metrics too, so the step's evidence says what they did during it.
    const metrics = scrapeMetrics(this.lab);
    this.open.set(id, { name, started: this.lab.clock.now(), mark, metrics });
    this.last = name;
    this.onProgress();
    this.emit({ type: 'step-start', scenario: this.scenario, step: name });
    await Promise.all([mark, metrics]);
    return id;
  }

  /** end records a step's outcome; false when the scenario ended first (the step was then recorded as failed). */
  async end(
    id: number,
    outcome: StepRecord['outcome'],
    evidence: Evidence,
    error?: StepRecord['error'],
  ): Promise<boolean> {
    const step = this.open.get(id);
    if (!step) return false;
    const [kmsCalls, metrics] = await Promise.all([
      kmsCallsAfter(this.lab, await step.mark),
      scrapeMetrics(this.lab).then(async (after) => metricsDelta(await step.metrics, after)),
    ]);
    if (!this.open.delete(id)) return false;
    this.last = step.name;
    this.onProgress();
    this.push(step, outcome, { ...evidence, kmsCalls, metrics }, error);
    return true;
  }

  /** close ends the log: every open step fails with the reason, and later begins and ends are refused. */
  close(reason?: NonNullable<StepRecord['error']>): void {
    this.closed = true;
    for (const step of this.open.values()) {
      this.push(step, 'failed', { kmsCalls: { unavailable: 'not counted: the step did not finish' } }, reason);
    }
    this.open.clear();
  }

  private push(step: OpenStep, outcome: StepRecord['outcome'], evidence: Evidence, error?: StepRecord['error']) {
    const record: StepRecord = {
      name: step.name,
      startedAt: new Date(step.started).toISOString(),
      durationMs: this.lab.clock.now() - step.started,
      outcome,
      evidence,
      ...(error ? { error } : {}),
    };
    this.records.push(record);
    this.emit({ type: 'step-end', scenario: this.scenario, step: record });
  }
}

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
