import { Command, Option } from '@commander-js/extra-typings';
import { FAULT_KINDS, type FaultEvent, type FaultKind } from '../../chaos/fault-kinds.js';
import type { ChaosEvent, ChaosOptions, ChaosReport } from '../../chaos/index.js';
import { CHAOS_LIMITS, checkApiservers } from '../../chaos/limits.js';
import { shellQuote } from '../../harness/common/shell-quote.js';
import { formatDuration, parseDuration } from '../../harness/common/duration.js';
import { KmslabError } from '../../harness/common/errors.js';
import type { Lab } from '../../harness/lab.js';
import type { StartLabOptions } from '../../harness/start-lab.js';
import { buildProgress, say, writeReport } from '../output.js';
import { pluginFrom, pluginOptions, type CloudFlag, type PluginFlags } from '../lab-options.js';
import { shardOptions, type ShardFlags } from '../shard-options.js';

const { min: MIN_APISERVERS, max: MAX_APISERVERS } = CHAOS_LIMITS.apiservers;

export function chaosCommand(program: Command): void {
  shardOptions(
    pluginOptions(
      program
        .command('chaos')
        .description(
          'run a workload while a seeded nemesis injects KMS, plugin, apiserver and etcd faults; then recover and judge invariants over every acknowledged write (exit 0: every invariant holds; 1: one is violated, or could not be judged)',
        ),
    ),
  )
    .addOption(
      new Option('--backend <backend>', 'local (real processes) or sim (models, virtual time)')
        .choices(['local', 'sim'] as const)
        .default('local' as const),
    )
    .option(
      '--apiservers <n>',
      `kube-apiservers on the one etcd (${MIN_APISERVERS} to ${MAX_APISERVERS})`,
      apiserverCount,
      2,
    )
    .option(
      '--duration <d>',
      `how long the workload runs: at most ${formatDuration(CHAOS_LIMITS.maxDurationMs.real)} on local, ${formatDuration(CHAOS_LIMITS.maxDurationMs.sim)} of virtual time on the sim`,
      '3m',
    )
    .option('--seed <seed>', 'draws the schedule and the workload; the same seed replays a sim run exactly')
    .option(
      '--seeds <A..B>',
      'run each of these seeds (whole numbers, e.g. 1..100) on a fresh lab, one after another; each anomaly is reported with its seed and replay command',
    )
    .option(
      '--faults <list>',
      `fault kinds to draw from, comma-separated (default: all the lab can take): ${FAULT_KINDS.join(', ')}`,
    )
    .option('--schedule <faults>', 'replay this exact schedule (kind@ms[+ms][#apiserver],…), as a shrunk run prints it')
    .option('--sim-plugin <bug>', 'sim only: model a broken plugin (forgets-keys-on-restart)')
    .option('--no-shrink', 'sim only: on a violation, do not shrink the schedule')
    .option('--json <file>', 'write the report as JSON')
    .option('--html <file>', 'write the timeline as one self-contained HTML page')
    .action(async (opts) => {
      const o = opts as typeof opts & PluginFlags;
      const sim = o.backend === 'sim';
      const durationMs = parseDuration(o.duration, {
        what: '--duration',
        maxMs: sim ? CHAOS_LIMITS.maxDurationMs.sim : CHAOS_LIMITS.maxDurationMs.real,
      });
      const faults = o.faults === undefined ? undefined : parseFaults(o.faults);
      const { ChaosInterrupted, chaosHtml, encodeSchedule, parseSchedule, runChaos, shrink } =
        await import('../../chaos/index.js');
      const { startLab } = await import('../../harness/start-lab.js');
      const seed = o.seed ?? Date.now().toString(36);
      let schedule;
      try {
        schedule = o.schedule === undefined ? undefined : parseSchedule(o.schedule);
      } catch (error) {
        throw new KmslabError('usage', `--schedule: ${(error as Error).message}`);
      }
      const plugin = await pluginFrom(o);
      if (sim && plugin) throw new KmslabError('usage', 'an external plugin needs --backend local');
      const cloud = (o as CloudFlag).cloud;
      if (sim && cloud)
        throw new KmslabError('usage', (await import('../../harness/start-lab.js')).cloudBackendLimit('sim'));
      if (o.simPlugin && (!sim || o.simPlugin !== 'forgets-keys-on-restart')) {
        throw new KmslabError('usage', '--sim-plugin takes forgets-keys-on-restart, with --backend sim');
      }
      const seeds = await import('./chaos-seeds.js');
      const seedList = seeds.seedsWanted(o as typeof o & ShardFlags);
      const plan =
        seedList && (await seeds.chaosPlan(o as typeof o & ShardFlags, seedList, { plugin, cloud }, durationMs));
      if (seedList && !plan) return;
      const labOptionsOf = (seed: string): StartLabOptions => ({
        backend: o.backend,
        name: labName(seed),
        seed,
        apiservers: o.apiservers,
        removeOnClose: true,
        onBuildProgress: buildProgress(),
        ...(plugin ? { plugin } : {}),
        ...(cloud ? { cloud } : {}),
        ...(o.simPlugin ? { brokenPlugin: 'forgets-keys-on-restart' as const } : {}),
      });
      const baseOf = (seed: string): Omit<ChaosOptions, 'signal'> => ({
        seed,
        durationMs,
        ...(faults ? { faults, requireFaults: true } : {}),
        ...(schedule ? { schedule } : {}),
        // The sim's requests cost nothing in wall time; spacing them keeps a day of virtual time to seconds.
        ...(sim ? { thinkMs: 10_000, healthEveryMs: 30_000 } : {}),
      });
      const interrupt = new AbortController();
      const stop = () => interrupt.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      const once = async (extra: Partial<ChaosOptions>, quiet = false, s = seed): Promise<ChaosReport> => {
        let lab: Lab | undefined;
        // Each run listens on a signal of its own, relayed from Ctrl-C: what a lab leaves listening goes with it.
        const run = new AbortController();
        const relay = () => run.abort(interrupt.signal.reason);
        if (interrupt.signal.aborted) relay();
        interrupt.signal.addEventListener('abort', relay, { once: true });
        try {
          lab = await startLab({ ...labOptionsOf(s), signal: run.signal });
          return await runChaos(lab, {
            ...baseOf(s),
            ...extra,
            signal: run.signal,
            ...(quiet ? {} : { onEvent: progress(sim) }),
          });
        } finally {
          interrupt.signal.removeEventListener('abort', relay);
          await lab?.close().catch(() => undefined);
        }
      };
      const replay = (events: FaultEvent[], d: number, s = seed) =>
        [
          'kmslab',
          'chaos',
          '--backend',
          o.backend,
          '--seed',
          s,
          '--apiservers',
          String(o.apiservers),
          '--duration',
          formatDuration(d),
          ...(o.simPlugin ? ['--sim-plugin', o.simPlugin] : []),
          '--schedule',
          encodeSchedule(events),
        ]
          .map(shellQuote)
          .join(' ');
      say(
        `▸ chaos on ${o.backend}: ${o.apiservers} apiserver(s), ${formatDuration(durationMs)}${sim ? ' of virtual time' : ''}, ${plan ? `seeds ${o.seeds ?? shellQuote(seed)}` : `seed ${shellQuote(seed)}`}`,
      );
      if (plan) {
        process.exitCode = await seeds
          .runChaosSeeds(
            o as typeof o & ShardFlags,
            plan,
            (s) => once({}, true, s),
            (r) => replay(r.faults.map(asEvent), durationMs, r.seed),
            () => interrupt.signal.aborted,
          )
          .finally(() => {
            process.off('SIGINT', stop);
            process.off('SIGTERM', stop);
          });
        return;
      }
      try {
        const report = await once({});
        console.log(summary(report));
        if (o.json) await writeReport(o.json, JSON.stringify(report, null, 2));
        if (o.html) await writeReport(o.html, chaosHtml(report));
        if (sim && report.outcome === 'failed' && o.shrink !== false) {
          say(`▸ shrinking the schedule (${report.faults.length} faults) on the sim …`);
          const violated = new Set(report.invariants.filter((i) => i.verdict === 'violated').map((i) => i.name));
          // Each candidate runs only until its last fault is healed and half an hour has passed: shorter runs, and
          // a shorter case to read.
          const until = (s: FaultEvent[]) =>
            Math.min(durationMs, Math.max(0, ...s.map((f) => f.at + f.durationMs)) + 30 * 60_000);
          const { schedule: smallest, runs } = await shrink(report.faults.map(asEvent), async (s) => {
            const r = await once({ schedule: s, durationMs: until(s) }, true);
            return r.invariants.some((i) => i.verdict === 'violated' && violated.has(i.name));
          });
          say(
            `✗ still violated with ${smallest.length} of ${report.faults.length} faults (${runs} sim runs). Replay it with:\n  ${replay(smallest, until(smallest))}`,
          );
        } else if (sim) say(`replay exactly with: ${replay(report.faults.map(asEvent), durationMs)}`);
        process.exitCode = report.outcome === 'passed' ? 0 : 1;
      } catch (error) {
        if (!(error instanceof ChaosInterrupted) && !interrupt.signal.aborted) throw error;
        say('interrupted: the lab is stopped; nothing was checked');
        process.exitCode = 130;
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    });
}

const asEvent = ({ at, kind, durationMs, target }: FaultEvent): FaultEvent => ({
  at,
  kind,
  durationMs,
  ...(target === undefined ? {} : { target }),
});

// Lab names become directories and process tags: the seed is any text, the name only its safe letters.
const labName = (seed: string) =>
  `chaos-${seed.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`.slice(0, 32).replace(/-+$/, '');

// A long run says how far it is: at each tenth of the way, at most every 2 s of wall time.
function progress(sim: boolean): (e: ChaosEvent) => void {
  let shown = 0;
  let lastWall = 0;
  return (e) => {
    if (e.type === 'phase') say(`▸ ${e.phase} (t+${formatDuration(Math.round(e.at / 1000) * 1000)})`);
    else if (e.type === 'progress') {
      const tenth = Math.floor((10 * e.at) / e.durationMs);
      if (tenth <= shown || Date.now() - lastWall < 2_000) return;
      shown = tenth;
      lastWall = Date.now();
      say(
        `  … ${formatDuration(Math.round(e.at / 1000) * 1000)} of ${formatDuration(e.durationMs)}${sim ? ' (virtual)' : ''}, ${e.requests} requests`,
      );
    } else if (!sim || e.phase === 'failed')
      say(
        `  ${e.phase === 'failed' ? '✗' : e.phase === 'applied' ? '⚡' : '✓'} ${e.fault.kind} ${e.phase}${e.error ? `: ${e.error}` : ''}`,
      );
  };
}

function summary(r: ChaosReport): string {
  const o = r.operations;
  const mark = { holds: '✓', violated: '✗', undecided: '?' } as const;
  const head = { passed: '✓ chaos passed', failed: '✗ chaos failed', inconclusive: '? chaos inconclusive' }[r.outcome];
  const lines = [
    '',
    `${head} on ${r.backend} (seed ${shellQuote(r.seed)}): ${o.writes} writes (${o.acknowledged} acknowledged, ${o.info} of unknown outcome), ${o.reads} reads, ${o.failed} failed; ${r.faults.length} faults of ${new Set(r.faults.map((f) => f.kind)).size} kinds`,
  ];
  for (const i of r.invariants) {
    lines.push(`  ${mark[i.verdict]} ${i.name}${i.measured ? ` ${JSON.stringify(i.measured)}` : ''}`);
    if (i.undecided) lines.push(`      not judged: ${i.undecided}`);
    for (const v of i.anomalies.slice(0, 5)) lines.push(`      ${JSON.stringify(v)}`);
    if (i.anomalies.length > 5) lines.push(`      … ${i.anomalies.length - 5} more (--json lists all)`);
  }
  if (r.faultsLeftOut.length) lines.push(`  left out: ${r.faultsLeftOut.join('; ')}`);
  return lines.join('\n');
}

function apiserverCount(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n))
    throw new KmslabError(
      'usage',
      `--apiservers "${value}" is not a whole number (${MIN_APISERVERS} to ${MAX_APISERVERS})`,
    );
  checkApiservers(n);
  return n;
}

function parseFaults(list: string): FaultKind[] {
  const kinds = list.split(',').map((k) => k.trim());
  const bad = kinds.filter((k) => !(FAULT_KINDS as readonly string[]).includes(k));
  if (bad.length)
    throw new KmslabError('usage', `--faults: ${bad.join(', ')} not known; use ${FAULT_KINDS.join(', ')}`);
  return kinds as FaultKind[];
}
