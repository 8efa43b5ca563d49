import { cellId, k8sLabel, pluginLabel, type ShardPlan } from '../../harness/shards/index.js';
import type { ConformanceReport } from '../../conformance/index.js';
import type { Scenario } from '../../scenarios/index.js';
import { shardPlan, writeShardResult, type ShardFlags } from '../shard-options.js';

interface ConformanceFlags extends ShardFlags {
  k8sVersion?: string;
  strict?: boolean;
  requireAll?: boolean;
  failFast?: boolean;
  settleSeconds: number;
}

/**
 * conformancePlan makes `kmslab conformance`'s cells — one per check, then one per scenario (`scenario-<name>`) —
 * and its shard; undefined once --list-cells has printed them.
 */
export async function conformancePlan(
  o: ConformanceFlags,
  scenarios: Scenario[],
  kms: { plugin?: object; cloud?: string },
  encryptionConfig: object | undefined,
): Promise<ShardPlan | undefined> {
  const { ALL_CHECKS } = await import('../../conformance/index.js');
  const units = [...ALL_CHECKS.map((c) => c.id), ...scenarios.map((s) => `scenario-${s.name}`)];
  return shardPlan(
    o,
    'conformance',
    units.map((unit) => ({
      command: 'conformance',
      unit,
      backend: 'local',
      k8sVersion: k8sLabel('local', o.k8sVersion),
      plugin: pluginLabel(kms.plugin, kms.cloud),
      seed: '',
    })),
    {
      strict: o.strict ?? false,
      requireAll: o.requireAll ?? false,
      failFast: o.failFast ?? false,
      settleMs: o.settleSeconds * 1000,
      ...(encryptionConfig ? { encryptionConfig: pluginLabel(encryptionConfig) } : {}),
    },
  );
}

/** The plan's own: the check ids and scenario checks it reports, and the scenarios it runs. */
export function conformanceShard(plan: ShardPlan, scenarios: Scenario[]) {
  const only = new Set(plan.cells.map((c) => c.unit));
  return { only, scenarios: scenarios.filter((s) => only.has(`scenario-${s.name}`)) };
}

/** writeConformanceShard writes the shard's result file (when asked for): each check under its cell id. */
export async function writeConformanceShard(
  o: ShardFlags,
  plan: ShardPlan,
  report: ConformanceReport,
  interrupted: boolean,
): Promise<void> {
  const byUnit = new Map(plan.cells.map((c) => [c.unit, cellId(c)]));
  const scenario = (id: string) => report.scenarios?.scenarios.find((s) => `scenario-${s.name}` === id);
  await writeShardResult(o, plan, {
    startedAt: Date.parse(report.startedAt),
    results: report.checks.map((check) => {
      const s = check.phase === 'scenario' ? scenario(check.id) : undefined;
      return { cell: byUnit.get(check.id)!, result: { check, ...(s ? { scenario: s } : {}) } };
    }),
    context: {
      startedAt: report.startedAt,
      durationMs: report.durationMs,
      plugin: report.plugin,
      strict: report.strict,
      requireAll: report.requireAll,
      artifacts: report.artifacts,
      ...(report.pluginLog ? { pluginLog: report.pluginLog } : {}),
    },
    ...(interrupted ? { interrupted: 'SIGINT' } : {}),
  });
}
