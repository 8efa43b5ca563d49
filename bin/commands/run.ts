import { relative } from 'node:path';
import { Command, Option } from '@commander-js/extra-typings';
import type { Scenario } from '../../scenarios/model.js';
import { KmslabError } from '../../harness/common/errors.js';
import { printJson, say, table, buildProgress, writeReport } from '../output.js';
import { runProgress } from '../run-progress.js';
import { withPlugin } from './lab.js';
import { parseDuration } from '../../harness/common/duration.js';
import { runLabName } from '../../harness/labs/run-lab-name.js';
import { checkLimit, DEFAULT_STEP_TIMEOUT_MS, type RUN_LIMITS } from '../../scenarios/run-limits.js';
import {
  encryptionConfigOption,
  pluginOptions,
  readEncryptionConfig,
  type CloudFlag,
  type PluginFlags,
} from '../lab-options.js';
import { shardOptions, type ShardFlags } from '../shard-options.js';

export function runCommands(program: Command): void {
  program
    .command('scenarios')
    .description('list the scenarios with what each proves: the built-in ones, or those in your files')
    .option(
      '--from <path>',
      'list the scenarios in this file or directory (*.scenario.{mjs,js,ts}) instead',
      collect,
      [] as string[],
    )
    .option('--json', 'print as JSON')
    .action(async (o) => {
      const rows = o.from.length
        ? (await (await import('../../scenarios/scenario-files.js')).loadScenarioFiles(o.from)).map(
            ({ scenario, file }) => ({
              ...describe(scenario),
              file: relative(process.cwd(), file),
            }),
          )
        : (await import('../../scenarios/catalog.js')).SCENARIOS.map(describe);
      if (o.json) printJson(rows);
      else
        console.log(
          table([
            ['NAME', 'TAGS', 'SUMMARY', ...(o.from.length ? ['FILE'] : [])],
            ...rows.map((r) => [r.name, r.tags.join(','), r.summary, ...('file' in r ? [r.file as string] : [])]),
          ]),
        );
    });

  shardOptions(encryptionConfigOption(pluginOptions(program.command('run'))))
    .description('run scenarios, each on a fresh lab, and report what they proved')
    .argument(
      '[scenarios...]',
      'built-in scenario names (default: all, or those with --tag), and/or your scenario files and directories (./my.scenario.ts, ./scenarios/)',
    )
    .option(
      '--tag <tag>',
      'only scenarios with this tag (e.g. core, slow); repeatable; with files, also picks the built-ins that have it',
      collect,
      [] as string[],
    )
    .addOption(
      new Option(
        '--backend <backend>',
        'where labs run: local (real processes), sim (models, virtual time), kind or compose (need Docker)',
      )
        .choices(['local', 'sim', 'kind', 'compose'] as const)
        .default('local' as const),
    )
    .option('--seed <seed>', 'sim only: replay a run exactly (a failed sim run prints its seed)')
    .option(
      '--k8s-version <version>',
      'local: kube-apiserver version (built from Go modules on first use); kind: node image version',
    )
    .option('--secrets <n>', 'Secrets each scenario writes (1 to 5,000)', limited('secrets', '--secrets'), 24)
    .option('--parallel <n>', 'scenarios (labs) at once (1 to 16)', limited('parallel', '--parallel'), 1)
    .option(
      '--step-timeout <duration>',
      'fail a scenario whose step (or code between steps) runs longer than this (1s to 24h)',
      (text: string) => checkLimit('stepTimeoutMs', parseDuration(text, { what: '--step-timeout' }), '--step-timeout'),
      DEFAULT_STEP_TIMEOUT_MS,
    )
    .option('--junit <file>', 'write a JUnit XML report')
    .option('--json <file>', 'write the full JSON report (every step and its evidence)')
    .option('--html <file>', 'write a timeline of the run as one self-contained HTML page')
    .option('--artifacts <dir>', 'where a failed scenario keeps its logs and report', 'artifacts')
    .option('--keep', 'leave each lab running afterwards (stop with kmslab down --all)')
    .action(async (names, o) => {
      const { renderConsole, runHtml, runScenarios, toJUnit } = await import('../../scenarios/index.js');
      const { cloudBackendLimit, labOptionsFor, startLab } = await import('../../harness/start-lab.js');
      const { externalLacks, NO_CLOUD } = await import('../../harness/kms/index.js');
      const scenarios = await pickScenarios(names, o.tag);
      // Ctrl-C (or SIGTERM) ends every scenario in flight at once and stops the labs; the report shows what ran.
      const interrupt = new AbortController();
      let exitCode = 0;
      const stop = (signal: NodeJS.Signals) => {
        if (interrupt.signal.aborted) {
          say('still stopping labs; if you kill kmslab now, run kmslab down --all afterwards');
          return;
        }
        say(`\ninterrupted (${signal}): stopping labs`);
        exitCode = signal === 'SIGTERM' ? 143 : 130;
        interrupt.abort(new Error(`the run got ${signal}`));
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      if (o.k8sVersion && (o.backend === 'sim' || o.backend === 'compose')) {
        throw new KmslabError('usage', `--k8s-version picks the apiserver of local and kind labs, not of ${o.backend}`);
      }
      const plugin = await withPlugin(o as PluginFlags & CloudFlag);
      if (plugin.plugin && o.backend === 'sim') {
        throw new KmslabError('usage', 'the sim backend models the fake KMS; an external plugin needs --backend local');
      }
      if (plugin.cloud && o.backend !== 'local') throw new KmslabError('usage', cloudBackendLimit(o.backend));
      const user = await readEncryptionConfig((o as { encryptionConfig?: string }).encryptionConfig);
      if (user && o.backend === 'sim') {
        throw new KmslabError(
          'usage',
          "--encryption-config runs on the local backend; the sim models kmslab's own config",
        );
      }
      const shards = await import('./run-cells.js');
      const plan = await shards.runPlan(o as typeof o & ShardFlags, scenarios, plugin, user);
      if (plan === undefined) return;
      const stamp = Date.now().toString(36);
      // Every shard of a sim run draws from one seed: the one given, or one made from the run's spec.
      const seed = o.seed ?? (plan.shard.count > 1 ? plan.specHash.slice(7, 19) : stamp);
      const report = await runScenarios(
        shards.scenariosOf(plan, scenarios),
        (scenario, signal) =>
          startLab({
            ...(signal ? { signal } : {}),
            backend: o.backend,
            name: runLabName(scenario.name, stamp),
            seed,
            ...(o.k8sVersion ? { k8sVersion: o.k8sVersion } : {}),
            // A failed scenario's logs are copied to the artifacts dir first; --keep leaves the lab running.
            removeOnClose: true,
            onBuildProgress: buildProgress(),
            ...labOptionsFor(scenario.needs, user),
            ...plugin,
          }),
        {
          params: { secrets: o.secrets },
          parallel: o.parallel,
          stepTimeoutMs: o.stepTimeout,
          artifactsDir: o.artifacts,
          keep: o.keep ?? false,
          onEvent: runProgress(),
          signal: interrupt.signal,
          backend: o.backend,
          // Without a cloud, scenarios that need one are skipped before a lab starts; with one, once it has.
          ...(plugin.cloud
            ? {}
            : {
                lacks: plugin.plugin
                  ? externalLacks(plugin.plugin)
                  : (c: string) => (c.startsWith('cloud-') ? NO_CLOUD : undefined),
              }),
        },
      );
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      console.log(`\n${renderConsole(report)}`);
      if (o.backend === 'sim') {
        say(
          `sim seed ${seed}: replay exactly with kmslab run --backend sim --seed ${seed} ${names.join(' ')}`.trimEnd(),
        );
      }
      if (o.json) await writeReport(o.json, JSON.stringify(report, null, 2));
      if (o.junit) await writeReport(o.junit, toJUnit(report));
      if (o.html) await writeReport(o.html, runHtml(report));
      await shards.writeRunShard(o, plan, report, interrupt.signal.aborted ? exitCode : undefined);
      if (interrupt.signal.aborted) process.exitCode = exitCode;
      else if (report.outcome !== 'passed') process.exitCode = 1;
    });
}

/**
 * pickScenarios reads the run's arguments: files and directories add the user's scenarios; names pick built-ins.
 * Built-ins: the named ones, else those with every --tag, else all — but none when only files are given.
 * Tags filter the user's scenarios too.
 */
async function pickScenarios(args: string[], tags: string[]): Promise<Scenario[]> {
  const { SCENARIOS, selectScenarios } = await import('../../scenarios/catalog.js');
  const paths = args.filter(isScenarioPath);
  const names = args.filter((a) => !isScenarioPath(a));
  const { loadScenarioFiles } = await import('../../scenarios/scenario-files.js');
  const mine = paths.length ? (await loadScenarioFiles(paths)).map((f) => f.scenario) : [];
  let builtIn: Scenario[] = [];
  if (!paths.length || names.length || tags.length) {
    try {
      builtIn = selectScenarios(names, tags);
    } catch (error) {
      throw new KmslabError('usage', (error as Error).message);
    }
  }
  const picked = [...mine.filter((s) => tags.every((t) => s.tags.includes(t))), ...builtIn];
  const clash = mine.find((s) => SCENARIOS.some((b) => b.name === s.name));
  if (clash) throw new KmslabError('usage', `your scenario "${clash.name}" has the name of a built-in one; rename it`);
  if (picked.length === 0) {
    throw new KmslabError('usage', `no scenario matches ${[...args, ...tags.map((t) => `tag ${t}`)].join(', ')}`);
  }
  return picked;
}

/** Built-in scenario names have no '/' or '.': anything that does is a file or directory of the user's. */
const isScenarioPath = (arg: string): boolean => /[/.]/.test(arg);

function describe(s: Scenario) {
  return { name: s.name, tags: s.tags, summary: s.summary, proves: s.proves };
}

/** limited parses a whole-number flag and holds it to its run limit (exit 2 naming the limit). */
function limited(key: keyof typeof RUN_LIMITS, flag: string) {
  return (text: string) => {
    const n = Number(text);
    if (!Number.isInteger(n)) throw new KmslabError('usage', `${flag} "${text}" is not a whole number`);
    return checkLimit(key, n, flag);
  };
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
