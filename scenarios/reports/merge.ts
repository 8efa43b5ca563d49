import { z } from 'zod';
import { shardValue } from '../../harness/shards/index.js';
import type { ScenarioResult } from '../model.js';
import type { RunReport } from '../runner.js';

// What the merged reports read of a scenario's result: a shard file is checked against this before any report
// renders it, so a damaged or hostile file is refused by name instead of breaking a renderer.
const stepSchema = z.looseObject({
  name: z.string(),
  startedAt: z.string(),
  durationMs: z.number(),
  outcome: z.enum(['passed', 'failed']),
  evidence: z.record(z.string(), z.unknown()),
  error: z.looseObject({ message: z.string(), class: z.string() }).optional(),
});
const scenarioResultSchema = z.looseObject({
  name: z.string(),
  summary: z.string(),
  proves: z.string(),
  tags: z.array(z.string()),
  backend: z.string(),
  outcome: z.enum(['passed', 'failed', 'skipped']),
  skipped: z.string().optional(),
  startedAt: z.string(),
  durationMs: z.number(),
  steps: z.array(stepSchema),
  artifacts: z.string().optional(),
  keptLab: z.string().optional(),
  error: z.string().optional(),
});

/** scenarioResultOf checks a scenario's result read from a shard file; the error says which field is wrong. */
export function scenarioResultOf(value: unknown): ScenarioResult {
  return shardValue(scenarioResultSchema, value, 'its scenario result') as ScenarioResult;
}


const contextSchema = z.looseObject({ backend: z.string(), startedAt: z.iso.datetime(), durationMs: z.number().min(0) });

/** The part of a run report each shard keeps besides its scenarios. */
export type RunShardContext = z.infer<typeof contextSchema>;

/** runShardContextOf checks what a shard file keeps besides its scenarios. */
export function runShardContextOf(value: unknown): RunShardContext {
  return shardValue(contextSchema, value, 'its run context');
}

/**
 * mergeRunReports joins the shards of one run into the report a single run would have made: the scenarios in the
 * run's order, from the first shard's start to the last one's end. It passes as a single run passes: every scenario
 * ran (`undefined`: its shard was interrupted first), none failed, and no shard was interrupted.
 */
export function mergeRunReports(
  scenarios: Array<ScenarioResult | undefined>,
  shards: RunShardContext[],
  interrupted: boolean,
): RunReport {
  const starts = shards.map((s) => Date.parse(s.startedAt));
  const start = Math.min(...starts);
  const end = Math.max(...shards.map((s, i) => starts[i]! + s.durationMs));
  const ran = scenarios.filter((s) => s !== undefined);
  const backend = shards.map((s) => s.backend).find((b) => b !== 'unknown') ?? 'unknown';
  return {
    startedAt: new Date(start).toISOString(),
    durationMs: end - start,
    backend,
    outcome: !interrupted && ran.length === scenarios.length && ran.every((s) => s.outcome !== 'failed') ? 'passed' : 'failed',
    scenarios: ran,
  };
}
