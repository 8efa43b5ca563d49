import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Command } from '@commander-js/extra-typings';
import { conformanceJUnit, renderConformance, runConformance } from '../../conformance/index.js';
import { KmslabError } from '../../harness/common/errors.js';
import { labOptionsFor, startLab } from '../../harness/index.js';
import { selectScenarios } from '../../scenarios/index.js';
import { buildProgress, say } from '../output.js';
import { pluginFrom, pluginOptions, type PluginFlags } from '../plugin-options.js';
import { positiveInt } from './lab.js';

export function conformanceCommand(program: Command): void {
  pluginOptions(
    program
      .command('conformance')
      .description(
        "hold a KMS v2 plugin to the rules: protocol checks on its socket, lifecycle checks through its hooks, then scenarios on a real kube-apiserver with the plugin behind kmslab's proxy (exit 0: every required check passed)",
      ),
  )
    .option('--strict', 'recommended checks count as failures too')
    .option('--fail-fast', 'stop at the first failure that counts')
    .option('--scenarios <tag>', 'which scenarios to run on real labs, by tag (none: skip them)', 'plugin')
    .option(
      '--settle-seconds <n>',
      'how long a hook may take to show in the plugin (it may cache key state)',
      positiveInt,
      60,
    )
    .option('--parallel <n>', 'scenarios at once (labs of one plugin may share its key store)', positiveInt, 1)
    .option('--k8s-version <version>', 'kube-apiserver version for the scenarios')
    .option('--json <file>', 'write the full report as JSON')
    .option('--junit <file>', 'write JUnit XML (a testsuite per phase, a testcase per check)')
    .action(async (opts) => {
      const o = opts as typeof opts & PluginFlags;
      const plugin = pluginFrom(o);
      if (!plugin)
        throw new KmslabError(
          'usage',
          'conformance needs a plugin: --plugin-cmd "<cmd with {socket}>" or --plugin-socket <path>',
        );
      const scenarios = o.scenarios === 'none' ? [] : selectScenarios([], [o.scenarios]);
      const stamp = Date.now().toString(36);
      const interrupt = new AbortController();
      const stop = () => interrupt.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      const report = await runConformance({
        plugin,
        scenarios,
        strict: o.strict ?? false,
        failFast: o.failFast ?? false,
        settleMs: o.settleSeconds * 1000,
        parallel: o.parallel,
        signal: interrupt.signal,
        makeLab: (s, signal) =>
          startLab({
            name: `conf-${s.name.slice(0, 20)}-${stamp}`.replace(/-+$/, ''),
            plugin,
            removeOnClose: true,
            onBuildProgress: buildProgress(),
            ...(o.k8sVersion ? { k8sVersion: o.k8sVersion } : {}),
            ...(signal ? { signal } : {}),
            ...labOptionsFor(s.needs),
          }),
        onResult: (r) =>
          say(
            `${r.outcome === 'passed' ? '✓' : r.outcome === 'skipped' ? '-' : r.level === 'required' || o.strict ? '✗' : '!'} ${r.id}${r.message ? `: ${r.message}` : ''}`,
          ),
      });
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      console.log(`\n${renderConformance(report)}`);
      if (o.json) await write(o.json, JSON.stringify(report, null, 2));
      if (o.junit) await write(o.junit, conformanceJUnit(report));
      process.exitCode = interrupt.signal.aborted ? 130 : report.outcome === 'passed' ? 0 : 1;
    });
}

async function write(file: string, text: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, text);
  say(`wrote ${file}`);
}
