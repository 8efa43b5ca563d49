import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Command, Option } from '@commander-js/extra-typings';
import { KmslabError } from '../../harness/common/errors.js';
import { labOptionsFor, startLab } from '../../harness/index.js';
import { SCENARIOS, renderConsole, runHtml, runScenarios, selectScenarios, toJUnit } from '../../scenarios/index.js';
import { printJson, say, table, buildProgress } from '../output.js';
import { runProgress } from '../run-progress.js';
import { positiveInt, withPlugin } from './lab.js';
import { encryptionConfigOption, pluginOptions, readEncryptionConfig, type PluginFlags } from '../lab-options.js';
import { externalLacks } from '../../harness/backends/common/control-kms.js';

export function runCommands(program: Command): void {
  program
    .command('scenarios')
    .description('list the scenarios with what each proves')
    .option('--json', 'print as JSON')
    .action((o) => {
      const rows = SCENARIOS.map((s) => ({ name: s.name, tags: s.tags, summary: s.summary, proves: s.proves }));
      if (o.json) printJson(rows);
      else console.log(table([['NAME', 'TAGS', 'SUMMARY'], ...rows.map((r) => [r.name, r.tags.join(','), r.summary])]));
    });

  encryptionConfigOption(pluginOptions(program.command('run')))
    .description('run scenarios, each on a fresh lab, and report what they proved')
    .argument('[scenarios...]', 'scenario names (default: all, or those with --tag)')
    .option('--tag <tag>', 'only scenarios with this tag (e.g. core, slow); repeatable', collect, [] as string[])
    .addOption(
      new Option(
        '--backend <backend>',
        'where labs run: local (real processes), sim (models, virtual time), kind or compose (need Docker)',
      )
        .choices(['local', 'sim', 'kind', 'compose'] as const)
        .default('local' as const),
    )
    .option('--seed <seed>', 'sim only: replay a run exactly (a failed sim run prints its seed)')
    .option('--secrets <n>', 'Secrets each scenario writes', positiveInt, 24)
    .option('--parallel <n>', 'scenarios (labs) at once', positiveInt, 1)
    .option('--junit <file>', 'write a JUnit XML report')
    .option('--json <file>', 'write the full JSON report (every step and its evidence)')
    .option('--html <file>', 'write a timeline of the run as one self-contained HTML page')
    .option('--artifacts <dir>', 'where a failed scenario keeps its logs and report', 'artifacts')
    .option('--keep', 'leave each lab running afterwards (stop with kmslab down --all)')
    .action(async (names, o) => {
      let scenarios;
      try {
        scenarios = selectScenarios(names, o.tag);
      } catch (error) {
        throw new KmslabError('usage', (error as Error).message);
      }
      if (scenarios.length === 0)
        throw new KmslabError('usage', `no scenario matches ${[...names, ...o.tag.map((t) => `tag ${t}`)].join(', ')}`);
      // Ctrl-C stops every lab in flight; the report then shows what ran.
      const interrupt = new AbortController();
      const stop = () => {
        if (interrupt.signal.aborted) {
          say('still stopping labs; if you kill kmslab now, run kmslab down --all afterwards');
          return;
        }
        say('\ninterrupted: stopping labs');
        interrupt.abort();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      const plugin = withPlugin(o as PluginFlags);
      if (plugin.plugin && o.backend === 'sim') {
        throw new KmslabError('usage', 'the sim backend models the fake KMS; an external plugin needs --backend local');
      }
      const user = await readEncryptionConfig((o as { encryptionConfig?: string }).encryptionConfig);
      if (user && o.backend === 'sim') {
        throw new KmslabError(
          'usage',
          "--encryption-config runs on the local backend; the sim models kmslab's own config",
        );
      }
      const stamp = Date.now().toString(36);
      const report = await runScenarios(
        scenarios,
        (scenario, signal) =>
          startLab({
            ...(signal ? { signal } : {}),
            backend: o.backend,
            name: `${scenario.name.slice(0, 22)}-${stamp}`.replace(/-+$/, ''),
            seed: o.seed ?? stamp,
            // A failed scenario's logs are copied to the artifacts dir first; --keep leaves the lab running.
            removeOnClose: true,
            onBuildProgress: buildProgress(),
            ...labOptionsFor(scenario.needs, user),
            ...plugin,
          }),
        {
          params: { secrets: o.secrets },
          parallel: o.parallel,
          artifactsDir: o.artifacts,
          keep: o.keep ?? false,
          onEvent: runProgress(),
          signal: interrupt.signal,
          backend: o.backend,
          ...(plugin.plugin ? { lacks: externalLacks(plugin.plugin) } : {}),
        },
      );
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      console.log(`\n${renderConsole(report)}`);
      if (o.backend === 'sim') {
        say(
          `sim seed ${o.seed ?? stamp}: replay exactly with kmslab run --backend sim --seed ${o.seed ?? stamp} ${names.join(' ')}`.trimEnd(),
        );
      }
      if (o.json) await write(o.json, JSON.stringify(report, null, 2));
      if (o.junit) await write(o.junit, toJUnit(report));
      if (o.html) await write(o.html, runHtml(report));
      if (interrupt.signal.aborted) process.exitCode = 130;
      else if (report.outcome !== 'passed') process.exitCode = 1;
    });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

async function write(file: string, text: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, text);
  say(`wrote ${file}`);
}
