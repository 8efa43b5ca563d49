import { Command, Option } from '@commander-js/extra-typings';
import { FAULT_KINDS, type FaultEvent, type FaultKind } from '../../chaos/fault-kinds.js';
import type { ChaosOptions, ChaosReport } from '../../chaos/index.js';
import { KmslabError } from '../../harness/common/errors.js';
import type { Lab } from '../../harness/lab.js';
import type { StartLabOptions } from '../../harness/start-lab.js';
import { buildProgress, say, writeReport } from '../output.js';
import { pluginFrom, pluginOptions, type PluginFlags } from '../lab-options.js';
import { positiveInt } from './lab.js';

export function chaosCommand(program: Command): void {
  pluginOptions(
    program
      .command('chaos')
      .description(
        'run a workload while a seeded nemesis injects KMS, plugin, apiserver and etcd faults; then recover and check invariants over every acknowledged write (exit 0: every invariant holds)',
      ),
  )
    .addOption(
      new Option('--backend <backend>', 'local (real processes) or sim (models, virtual time)')
        .choices(['local', 'sim'] as const)
        .default('local' as const),
    )
    .option('--apiservers <n>', 'kube-apiservers on the one etcd (1 to 5)', positiveInt, 2)
    .option('--duration <d>', 'how long the workload runs (e.g. 3m; on the sim e.g. 24h of virtual time)', '3m')
    .option('--seed <seed>', 'draws the schedule and the workload; the same seed replays a sim run exactly')
    .option('--faults <list>', `fault kinds to draw from, comma-separated (default all): ${FAULT_KINDS.join(', ')}`)
    .option('--schedule <faults>', 'replay this exact schedule (kind@ms[+ms][#apiserver],…), as a shrunk run prints it')
    .option('--sim-plugin <bug>', 'sim only: model a broken plugin (forgets-keys-on-restart)')
    .option('--no-shrink', 'sim only: on a violation, do not shrink the schedule')
    .option('--json <file>', 'write the report as JSON')
    .option('--html <file>', 'write the timeline as one self-contained HTML page')
    .action(async (opts) => {
      const o = opts as typeof opts & PluginFlags;
      const { ChaosInterrupted, chaosHtml, encodeSchedule, parseSchedule, runChaos, shrink } =
        await import('../../chaos/index.js');
      const { startLab } = await import('../../harness/start-lab.js');
      const durationMs = parseDuration(o.duration);
      const seed = o.seed ?? Date.now().toString(36);
      const faults = o.faults ? parseFaults(o.faults) : FAULT_KINDS;
      let schedule;
      try {
        schedule = o.schedule === undefined ? undefined : parseSchedule(o.schedule);
      } catch (error) {
        throw new KmslabError('usage', `--schedule: ${(error as Error).message}`);
      }
      const plugin = pluginFrom(o);
      if (o.backend === 'sim' && plugin) throw new KmslabError('usage', 'an external plugin needs --backend local');
      if (o.simPlugin && (o.backend !== 'sim' || o.simPlugin !== 'forgets-keys-on-restart')) {
        throw new KmslabError('usage', '--sim-plugin takes forgets-keys-on-restart, with --backend sim');
      }
      const sim = o.backend === 'sim';
      const labOptions: StartLabOptions = {
        backend: o.backend,
        name: `chaos-${seed}`.slice(0, 32).replace(/-+$/, ''),
        seed,
        apiservers: o.apiservers,
        removeOnClose: true,
        onBuildProgress: buildProgress(),
        ...(plugin ? { plugin } : {}),
        ...(o.simPlugin ? { brokenPlugin: 'forgets-keys-on-restart' as const } : {}),
      };
      const base: Omit<ChaosOptions, 'signal'> = {
        seed,
        durationMs,
        faults,
        ...(schedule ? { schedule } : {}),
        // The sim's requests cost nothing in wall time; spacing them keeps a day of virtual time to seconds.
        ...(sim ? { thinkMs: 10_000, healthEveryMs: 30_000 } : {}),
      };
      const interrupt = new AbortController();
      const stop = () => interrupt.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      const once = async (extra: Partial<ChaosOptions>, quiet = false): Promise<ChaosReport> => {
        let lab: Lab | undefined;
        try {
          lab = await startLab({ ...labOptions, signal: interrupt.signal });
          return await runChaos(lab, {
            ...base,
            ...extra,
            signal: interrupt.signal,
            ...(quiet ? {} : { onEvent: (e) => progress(e, sim) }),
          });
        } finally {
          await lab?.close().catch(() => undefined);
        }
      };
      say(
        `▸ chaos on ${o.backend}: ${o.apiservers} apiserver(s), ${o.duration}${sim ? ' of virtual time' : ''}, seed ${seed}`,
      );
      let report: ChaosReport;
      try {
        report = await once({});
      } catch (error) {
        if (!(error instanceof ChaosInterrupted)) throw error;
        say('interrupted: the lab is stopped; nothing was checked');
        process.exitCode = 130;
        return;
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
      console.log(summary(report));
      if (o.json) await writeReport(o.json, JSON.stringify(report, null, 2));
      if (o.html) await writeReport(o.html, chaosHtml(report));

      const replay = (events = report.faults, d = durationMs) =>
        `kmslab chaos --backend sim --seed ${seed} --apiservers ${o.apiservers} --duration ${Math.ceil(d / 1000)}s${o.simPlugin ? ` --sim-plugin ${o.simPlugin}` : ''} --schedule '${encodeSchedule(events)}'`;
      if (sim && report.outcome === 'failed' && o.shrink !== false && !interrupt.signal.aborted) {
        say(`▸ shrinking the schedule (${report.faults.length} faults) on the sim …`);
        const violated = new Set(report.invariants.filter((i) => !i.holds).map((i) => i.name));
        // Each candidate runs only until its last fault is healed and half an hour has passed: shorter runs, and a
        // shorter case to read.
        const until = (s: FaultEvent[]) =>
          Math.min(durationMs, Math.max(0, ...s.map((f) => f.at + f.durationMs)) + 30 * 60_000);
        const { schedule: smallest, runs } = await shrink(
          report.faults.map(({ at, kind, durationMs: d, target }) => ({
            at,
            kind,
            durationMs: d,
            ...(target === undefined ? {} : { target }),
          })),
          async (s) => {
            const r = await once({ schedule: s, durationMs: until(s) }, true);
            return r.invariants.some((i) => !i.holds && violated.has(i.name));
          },
        );
        say(
          `✗ still violated with ${smallest.length} of ${report.faults.length} faults (${runs} sim runs). Replay it with:\n  ${replay(
            smallest.map((f) => ({ ...f, appliedAt: 0, healedAt: 0 })),
            until(smallest),
          )}`,
        );
      } else if (sim) say(`replay exactly with: ${replay()}`);
      process.exitCode = interrupt.signal.aborted ? 130 : report.outcome === 'passed' ? 0 : 1;
    });
}

function progress(e: Parameters<NonNullable<ChaosOptions['onEvent']>>[0], sim: boolean): void {
  if (e.type === 'phase') say(`▸ ${e.phase} (t+${Math.round(e.at / 1000)} s)`);
  else if (!sim || e.phase === 'failed')
    say(
      `  ${e.phase === 'failed' ? '✗' : e.phase === 'applied' ? '⚡' : '✓'} ${e.fault.kind} ${e.phase}${e.error ? `: ${e.error}` : ''}`,
    );
}

function summary(r: ChaosReport): string {
  const o = r.operations;
  const lines = [
    '',
    `${r.outcome === 'passed' ? '✓' : '✗'} chaos ${r.outcome} on ${r.backend} (seed ${r.seed}): ${o.writes} writes (${o.acknowledged} acknowledged, ${o.unknown} unknown), ${o.reads} reads, ${o.failed} failed; ${r.faults.length} faults of ${new Set(r.faults.map((f) => f.kind)).size} kinds`,
  ];
  for (const i of r.invariants) {
    lines.push(`  ${i.holds ? '✓' : '✗'} ${i.name}${i.measured ? ` ${JSON.stringify(i.measured)}` : ''}`);
    for (const v of i.violations.slice(0, 5)) lines.push(`      ${JSON.stringify(v)}`);
    if (i.violations.length > 5) lines.push(`      … ${i.violations.length - 5} more (--json lists all)`);
  }
  if (r.faultsLeftOut.length) lines.push(`  left out: ${r.faultsLeftOut.join('; ')}`);
  return lines.join('\n');
}

/** parseDuration reads 90s, 3m, 1h30m, 24h. */
export function parseDuration(text: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  const parts = [...text.matchAll(/(\d+)(ms|s|m|h|d)/g)];
  const ms = parts.reduce((n, p) => n + Number(p[1]) * units[p[2]!]!, 0);
  if (!parts.length || parts.map((p) => p[0]).join('') !== text || ms <= 0) {
    throw new KmslabError('usage', `--duration "${text}" is not a duration; write e.g. 90s, 3m, 24h`);
  }
  return ms;
}

function parseFaults(list: string): FaultKind[] {
  const kinds = list.split(',').map((k) => k.trim());
  const bad = kinds.filter((k) => !(FAULT_KINDS as readonly string[]).includes(k));
  if (bad.length)
    throw new KmslabError('usage', `--faults: ${bad.join(', ')} not known; use ${FAULT_KINDS.join(', ')}`);
  return kinds as FaultKind[];
}
