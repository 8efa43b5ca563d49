import { resolve } from 'node:path';
import { Command } from '@commander-js/extra-typings';
import { KmslabError } from '../../harness/common/errors.js';
import { runLabName } from '../../harness/labs/run-lab-name.js';
import { buildProgress, say, writeReport } from '../output.js';
import {
  encryptionConfigOption,
  pluginFrom,
  pluginOptions,
  readEncryptionConfig,
  type CloudFlag,
  type PluginFlags,
} from '../lab-options.js';
import { positiveInt } from './lab.js';
import { shardOptions, type ShardFlags } from '../shard-options.js';

export function conformanceCommand(program: Command): void {
  shardOptions(
    encryptionConfigOption(
      pluginOptions(
        program
          .command('conformance')
          .description(
            "hold a KMS v2 plugin to the rules: protocol checks on its socket, lifecycle checks through its hooks, then scenarios on a real kube-apiserver with the plugin behind kmslab's proxy (exit 0: every required check passed)",
          ),
      ),
    ),
  )
    .option('--strict', 'recommended checks count as failures too')
    .option(
      '--require-all',
      'required checks that could not run (a hook not given, a check stopped by another failure) fail the run too',
    )
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
    .option(
      '--artifacts <dir>',
      "where the plugin's and the hooks' logs and failed scenarios' labs are kept (in conformance-<time>/)",
      'artifacts',
    )
    .action(async (opts) => {
      const o = opts as typeof opts & PluginFlags;
      const { checkLine, conformanceJUnit, renderConformance, runConformance, standaloneBackend } =
        await import('../../conformance/index.js');
      const { labOptionsFor, startLab } = await import('../../harness/start-lab.js');
      const { selectScenarios } = await import('../../scenarios/index.js');
      const cloud = (o as CloudFlag).cloud;
      let plugin = await pluginFrom(o);
      if (!plugin && !cloud)
        throw new KmslabError(
          'usage',
          'conformance needs a plugin: --plugin-cmd "<cmd with {socket}>" or --plugin-socket <path> (or --cloud alibaba|aws for kmslab\'s plugin of that cloud)',
        );
      const scenarios = o.scenarios === 'none' ? [] : selectScenarios([], [o.scenarios]);
      const user = await readEncryptionConfig((o as { encryptionConfig?: string }).encryptionConfig);
      const cells = await import('./conformance-cells.js');
      const plan = await cells.conformancePlan(o as typeof o & ShardFlags, scenarios, { plugin, cloud }, user);
      if (plan === undefined) return;
      const shard = cells.conformanceShard(plan, scenarios);
      const stamp = Date.now().toString(36);
      const artifacts = resolve(o.artifacts, `conformance-${new Date().toISOString().replace(/[:.]/g, '-')}`);
      say(`logs and artifacts go to ${artifacts} (the plugin's output: kms-plugin.log, the hooks': kms-hooks.log)`);
      // With a cloud, one emulator serves the whole run: the plugin's own socket and every scenario's lab.
      const emulated = cloud
        ? await (await import('../../harness/kms/index.js')).standaloneCloud(artifacts, cloud, plugin)
        : undefined;
      // The same emulator is the backend the backend checks fail and heal.
      const backend =
        emulated &&
        (await standaloneBackend(emulated.dir, cloud!, Boolean(plugin)).catch(async (error: unknown) => {
          await emulated.close();
          throw error;
        }));
      if (emulated) {
        plugin = emulated.plugin;
        say(
          `${cloud} KMS emulator: state in ${emulated.dir} (removed at the end), log in ${artifacts}/cloud-${cloud}.log`,
        );
      }
      // The first Ctrl-C stops the run; a check that disabled a key still runs its enable hook before kmslab ends.
      const interrupt = new AbortController();
      const stop = () => {
        if (interrupt.signal.aborted) {
          say('still stopping: a key disabled by a check is being enabled again; wait, or it stays disabled');
          return;
        }
        say('\ninterrupted: finishing the current check (and re-enabling any key it disabled)');
        interrupt.abort();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      const report = await runConformance({
        plugin: plugin!,
        scenarios: shard.scenarios,
        only: shard.only,
        ...(backend ? { backend } : {}),
        strict: o.strict ?? false,
        requireAll: o.requireAll ?? false,
        failFast: o.failFast ?? false,
        settleMs: o.settleSeconds * 1000,
        parallel: o.parallel,
        artifactsDir: artifacts,
        signal: interrupt.signal,
        makeLab: (s, signal) =>
          startLab({
            name: runLabName(`c-${s.name}`, stamp),
            plugin: plugin!,
            removeOnClose: true,
            onBuildProgress: buildProgress(),
            ...(o.k8sVersion ? { k8sVersion: o.k8sVersion } : {}),
            ...(signal ? { signal } : {}),
            ...labOptionsFor(s.needs, user),
          }),
        onResult: (r) => say(checkLine(r, o.strict ?? false)),
      }).finally(async () => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        await emulated?.close();
      });
      console.log(`\n${renderConformance(report)}`);
      if (o.json) await writeReport(o.json, JSON.stringify(report, null, 2));
      if (o.junit) await writeReport(o.junit, conformanceJUnit(report));
      await cells.writeConformanceShard(o as typeof o & ShardFlags, plan, report, interrupt.signal.aborted);
      process.exitCode = interrupt.signal.aborted ? 130 : report.outcome === 'passed' ? 0 : 1;
    });
}
