import { z } from 'zod';
import { shardValue } from '../harness/shards/index.js';
import { mergeRunReports, scenarioResultOf, type ScenarioResult } from '../scenarios/index.js';
import type { CheckResult } from './check-runner.js';
import { conformanceVerdict } from './report-verdict.js';
import type { ConformanceReport } from './run-conformance.js';

/** What a conformance shard keeps per cell: the check's result, and the scenario's for a `scenario-…` check. */
export interface ConformanceCellResult {
  check: CheckResult;
  scenario?: ScenarioResult;
}

/** The part of a conformance report each shard keeps besides its checks. */
export type ConformanceShardContext = Pick<
  ConformanceReport,
  'startedAt' | 'durationMs' | 'plugin' | 'strict' | 'requireAll' | 'artifacts' | 'pluginLog'
>;

const contextSchema = z.looseObject({
  startedAt: z.iso.datetime(),
  durationMs: z.number().min(0),
  plugin: z.looseObject({ command: z.string().optional(), socket: z.string().optional(), hooks: z.array(z.string()) }),
  strict: z.boolean(),
  requireAll: z.boolean(),
  artifacts: z.string(),
  pluginLog: z.string().optional(),
});

/** conformanceContextOf checks what a conformance shard file keeps besides its checks. */
export const conformanceContextOf = (value: unknown): ConformanceShardContext =>
  shardValue(contextSchema, value, 'its conformance context');

const checkSchema = z.looseObject({
  id: z.string(),
  title: z.string(),
  phase: z.enum(['protocol', 'lifecycle', 'backend', 'scenario']),
  level: z.enum(['required', 'recommended']),
  source: z.string(),
  outcome: z.enum(['passed', 'failed', 'skipped', 'not-run']),
  message: z.string().optional(),
  note: z.string().optional(),
  because: z.string().optional(),
  died: z.looseObject({ how: z.string(), logFile: z.string().optional(), lastLines: z.array(z.string()) }).optional(),
  restarted: z.string().optional(),
  evidence: z.record(z.string(), z.unknown()).optional(),
  durationMs: z.number(),
});

/** conformanceCellOf checks a cell's result read from a shard file; the error says which field is wrong. */
export function conformanceCellOf(value: unknown): ConformanceCellResult {
  const { check, scenario } = shardValue(
    z.looseObject({ check: checkSchema, scenario: z.unknown().optional() }),
    value,
    'its check result',
  );
  return { check: check as CheckResult, ...(scenario === undefined ? {} : { scenario: scenarioResultOf(scenario) }) };
}

/**
 * mergeConformance joins the shards of one conformance run into the report a single run would have made: the
 * checks in the run's order (`undefined`: its shard was interrupted before it), judged as one run judges them.
 */
export function mergeConformance(
  cells: Array<ConformanceCellResult | undefined>,
  shards: ConformanceShardContext[],
  interrupted: boolean,
): ConformanceReport {
  const first = shards[0]!;
  const checks = cells.flatMap((c) => (c ? [c.check] : []));
  const starts = shards.map((s) => Date.parse(s.startedAt));
  const start = Math.min(...starts);
  const scenarioCells = cells.filter((c) => c === undefined || c.check.phase === 'scenario');
  const logs = [...new Set(shards.flatMap((s) => (s.pluginLog ? [s.pluginLog] : [])))];
  const scenarios = scenarioCells.length
    ? mergeRunReports(
        scenarioCells.map((c) => c?.scenario),
        shards.map((s) => ({ backend: 'local', startedAt: s.startedAt, durationMs: s.durationMs })),
        interrupted,
      )
    : undefined;
  return {
    startedAt: new Date(start).toISOString(),
    durationMs: Math.max(...shards.map((s, i) => starts[i]! + s.durationMs)) - start,
    plugin: first.plugin,
    strict: first.strict,
    requireAll: first.requireAll,
    ...conformanceVerdict(checks, {
      strict: first.strict,
      requireAll: first.requireAll,
      cutShort: interrupted || checks.length < cells.length,
    }),
    artifacts: [...new Set(shards.map((s) => s.artifacts))].join(' '),
    ...(logs.length ? { pluginLog: logs.join(' ') } : {}),
    checks,
    ...(scenarios ? { scenarios } : {}),
  };
}
