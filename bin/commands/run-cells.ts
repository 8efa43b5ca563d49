import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { cellId, k8sLabel, pluginLabel, type Cell } from '../../harness/shards/index.js';
import type { ShardPlan } from '../../harness/shards/index.js';
import type { RunReport, Scenario } from '../../scenarios/index.js';
import { shardPlan, writeShardResult, type ShardFlags } from '../shard-options.js';

interface RunFlags extends ShardFlags {
  backend: string;
  seed?: string;
  k8sVersion?: string;
  secrets: number;
  stepTimeout: number;
}

/**
 * runPlan makes `kmslab run`'s cells — one per scenario — and its shard; undefined once --list-cells has printed
 * them. The spec holds what changes a scenario's outcome: the cells, Secrets per scenario, the step timeout, and
 * hashes of the user's scenario files and EncryptionConfiguration.
 */
export async function runPlan(
  o: RunFlags,
  scenarios: Scenario[],
  kms: { plugin?: object; cloud?: string },
  encryptionConfig: object | undefined,
): Promise<ShardPlan | undefined> {
  const files = await Promise.all(
    scenarios
      .filter((s) => s.origin)
      .map(
        async (s) =>
          [
            s.name,
            createHash('sha256')
              .update(await readFile(s.origin!.file))
              .digest('hex'),
          ] as const,
      ),
  );
  return shardPlan(
    o,
    'run',
    scenarios.map((s) => runCell(o, s.name, kms)),
    {
      secrets: o.secrets,
      stepTimeoutMs: o.stepTimeout,
      ...(files.length ? { scenarioFiles: Object.fromEntries(files) } : {}),
      ...(encryptionConfig ? { encryptionConfig: pluginLabel(encryptionConfig) } : {}),
    },
  );
}

const runCell = (o: RunFlags, scenario: string, kms: { plugin?: object; cloud?: string }): Cell => ({
  command: 'run',
  unit: scenario,
  backend: o.backend,
  k8sVersion: k8sLabel(o.backend, o.k8sVersion),
  plugin: pluginLabel(kms.plugin, kms.cloud),
  seed: o.seed ?? '',
});

/** scenariosOf keeps the scenarios of the plan's shard, in the run's order. */
export const scenariosOf = (plan: ShardPlan, scenarios: Scenario[]): Scenario[] =>
  scenarios.filter((s) => plan.cells.some((c) => c.unit === s.name));

/** writeRunShard writes the shard's result file (when asked for): each scenario's result under its cell id. */
export async function writeRunShard(
  o: ShardFlags,
  plan: ShardPlan,
  report: RunReport,
  interruptedExit: number | undefined,
): Promise<void> {
  const byName = new Map(plan.cells.map((c) => [c.unit, cellId(c)]));
  await writeShardResult(o, plan, {
    startedAt: Date.parse(report.startedAt),
    results: report.scenarios.map((s) => ({ cell: byName.get(s.name)!, result: s })),
    context: { backend: report.backend, startedAt: report.startedAt, durationMs: report.durationMs },
    ...(interruptedExit ? { interrupted: interruptedExit === 143 ? 'SIGTERM' : 'SIGINT' } : {}),
  });
}
