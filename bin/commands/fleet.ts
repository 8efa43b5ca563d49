import { setImmediate as turn } from 'node:timers/promises';
import { Command, Option } from '@commander-js/extra-typings';
import { formatDuration, parseDuration } from '../../harness/common/duration.js';
import { KmslabError } from '../../harness/common/errors.js';
import { FLEET_LIMITS, fleetSpecProblems, type FleetSpec } from '../../sim/fleet-spec.js';
import { DEFAULT_PLUGIN_STYLE, PLUGIN_STYLES, pluginStyle, type PluginStyle } from '../../sim/fleet-plugin.js';
import type { FleetProgress, FleetResult, KmsVersion } from '../../sim/fleet.js';
import { printJson, say, table } from '../output.js';

const MODEL_NOTE =
  'A model of the apiserver’s KMS behaviour (sim/fleet*), not a measurement. Simulated one by one: apiserver starts ' +
  'and restarts, Status polls, health probes, key rotations, outages. Aggregated: writes and reads (rates split ' +
  'over the ready apiservers, expected values), and objects (counted per DEK source, not one by one). Only calls ' +
  'made inside the period are counted: a LIST decrypts one object after another, each taking --kms-latency.';

// How long the model computes before it lets the event loop turn (Ctrl-C, progress), and how often progress shows.
const SLICE_MS = 50;
const PROGRESS_EVERY_MS = { tty: 500, log: 10_000 };
const FLAGS: Partial<Record<keyof FleetSpec, string>> = {
  apiservers: '--apiservers',
  objects: '--objects',
  durationMs: '--duration',
  rotateEveryMs: '--rotate-every',
  restartEveryMs: '--restart-every',
  outages: '--outage',
  writesPerSecond: '--writes-per-second',
  readsPerSecond: '--reads-per-second',
  healthCheckEveryMs: '--health-checks-every',
  kmsLatencyMs: '--kms-latency',
  v1CacheSize: '--cache-size',
  listDecodeConcurrency: '--list-concurrency',
  plugin: '--plugin',
};

export function fleetCommand(program: Command): void {
  program
    .command('fleet')
    .description(
      'model the KMS calls, peak rate, DEK seeds and cost of a fleet of apiservers over a period, KMS v1 against v2',
    )
    .requiredOption('--apiservers <n>', 'kube-apiservers in the cluster (at most 100)', count('--apiservers'))
    .requiredOption('--objects <n>', 'Secrets stored at the start (at most 10^9)', count('--objects'))
    .requiredOption(
      '--duration <d>',
      'how long to model, e.g. 24h, 30d (at most 366d, and 3,660 apiserver-days)',
      duration('--duration'),
    )
    .addOption(
      new Option('--kms <version>', 'model only this KMS version (default: both, side by side)').choices([
        'v1',
        'v2',
      ] as const),
    )
    .option('--rotate-every <d>', 'the KMS key_id changes this often (at least 10m)', duration('--rotate-every'))
    .option(
      '--restart-every <d>',
      'each apiserver restarts this often, staggered across the fleet (at least 10m)',
      duration('--restart-every'),
    )
    .option(
      '--outage <at+for>',
      'the KMS is unreachable from <at> for <for>, e.g. 6h+15m, starting inside the period; repeatable',
      (v: string, prev: Array<{ atMs: number; durationMs: number }> | undefined) => [...(prev ?? []), outage(v)],
    )
    .option(
      '--writes-per-second <n>',
      'fleet-wide Secret rewrites per second (default: every Secret once a day)',
      rate('--writes-per-second'),
    )
    .option('--reads-per-second <n>', 'fleet-wide reads that go to etcd per second', rate('--reads-per-second'), 0)
    .option(
      '--health-checks-every <d>',
      'how often /readyz is hit on each apiserver (kubeadm’s readiness probe: 1s; at least 100ms); 0 for never',
      (v: string) => (v === '0' ? 0 : duration('--health-checks-every')(v)),
      1000,
    )
    .option(
      '--kms-latency <ms>',
      'one KMS round trip, 0.1 to 60000; a LIST decrypts one object after another',
      rate('--kms-latency'),
      5,
    )
    .option(
      '--cache-size <n>',
      'KMS v1 DEK cache per apiserver (EncryptionConfiguration cachesize)',
      count('--cache-size'),
      1000,
    )
    .option(
      '--list-concurrency <n>',
      'objects a watch cache decodes at once: 10 on kube-apiserver 1.37 (ConcurrentWatchObjectDecode), 1 on 1.34–1.36',
      count('--list-concurrency'),
      10,
    )
    .option(
      '--price-per-10k <price>',
      'price of 10,000 KMS requests (0.03 is the AWS and Google Cloud list price)',
      rate('--price-per-10k'),
      0.03,
    )
    .option(
      '--plugin <style>',
      `what a Status costs each plugin at its cloud KMS: ${PLUGIN_STYLES.map((p) => `${p.name} (${p.encrypt}+${p.decrypt}${p.cacheMs ? `, at most once per ${p.cacheMs / 1000} s` : ''})`).join(', ')}; or <encrypts>+<decrypts>[/<cache seconds>]`,
      plugin,
      DEFAULT_PLUGIN_STYLE,
    )
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      `
Exit codes:
  0    modelled (model figures, not measurements)
  2    usage: a flag not understood, or an input outside the model's limits (the limit is named)
  130  stopped by Ctrl-C (143: by SIGTERM) before the model finished; nothing is printed on stdout`,
    )
    .action(async (o) => {
      const spec: FleetSpec = {
        apiservers: o.apiservers,
        objects: o.objects,
        durationMs: o.duration,
        // Each Secret rewritten once a day (left to the limit check when --objects itself is out of range).
        writesPerSecond: o.writesPerSecond ?? (o.objects <= FLEET_LIMITS.objects ? o.objects / 86_400 : 0),
        readsPerSecond: o.readsPerSecond,
        rotateEveryMs: o.rotateEvery ?? 0,
        restartEveryMs: o.restartEvery ?? 0,
        outages: o.outage ?? [],
        events: [],
        healthCheckEveryMs: o.healthChecksEvery,
        kmsLatencyMs: o.kmsLatency,
        v1CacheSize: o.cacheSize,
        listDecodeConcurrency: o.listConcurrency,
        plugin: o.plugin,
      };
      const { costOf, fleetRun } = await import('../../sim/fleet.js');
      const problems = fleetSpecProblems(spec, (field) => FLAGS[field] ?? field);
      if (problems.length > 0) throw new KmslabError('usage', problems.join('\n'));
      const versions: KmsVersion[] = o.kms ? [o.kms] : ['v1', 'v2'];
      const started = performance.now();
      const results: FleetResult[] = [];
      for (const v of versions) {
        const result = await runSliced(fleetRun(spec, v));
        if ('stopped' in result) {
          say(`kmslab: fleet stopped by ${result.stopped} before the model finished; nothing to report`);
          // As every kmslab command: 128 + the signal's number.
          process.exitCode = result.stopped === 'SIGTERM' ? 143 : 130;
          return;
        }
        results.push(result);
      }
      const seconds = (performance.now() - started) / 1000;
      const priced = results.map((r) => ({ ...r, cost: costOf(r, o.pricePer10k) }));
      if (o.json) {
        printJson({ spec, pricePer10k: o.pricePer10k, results: priced, seconds, model: MODEL_NOTE });
        return;
      }
      console.log(describe(spec));
      console.log();
      console.log(render(priced, o.pricePer10k));
      console.log();
      console.log(
        `${MODEL_NOTE} Computed in ${seconds.toFixed(2)} s (${results.map((r) => `${r.kms}: ${r.steps} steps`).join(', ')}).`,
      );
    });
}

/**
 * runSliced drives one model run in slices of about SLICE_MS, letting the event loop turn between them: Ctrl-C
 * (or SIGTERM) stops the run within a slice (exit 130, or 143), and a run longer than a second shows its progress on stderr
 * (rewritten in place on a terminal, a line every 10 s otherwise).
 */
async function runSliced(
  run: Generator<FleetProgress, FleetResult>,
): Promise<FleetResult | { stopped: NodeJS.Signals }> {
  let stopped: NodeJS.Signals | undefined;
  const stop = (signal: NodeJS.Signals) => (stopped = signal);
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  const tty = process.stderr.isTTY === true;
  const started = performance.now();
  // The first progress line once the run has taken a second, then every PROGRESS_EVERY_MS.
  let shown = -Infinity;
  let live = false;
  try {
    for (;;) {
      const slice = performance.now();
      let next = run.next();
      while (!next.done && performance.now() - slice < SLICE_MS) next = run.next();
      if (next.done) return next.value;
      await turn();
      if (stopped) return { stopped };
      const now = performance.now();
      if (now - started > 1000 && now - shown > (tty ? PROGRESS_EVERY_MS.tty : PROGRESS_EVERY_MS.log)) {
        shown = now;
        const p = next.value;
        const text = `▸ KMS ${p.kms}: ${Math.floor((100 * p.atMs) / p.durationMs)}% of ${formatDuration(p.durationMs)} modelled, ${p.steps.toLocaleString('en-US')} steps, ${((now - started) / 1000).toFixed(0)} s (Ctrl-C stops)`;
        if (tty) {
          process.stderr.write(`\r\u001b[2K${text}`);
          live = true;
        } else say(text);
      }
    }
  } finally {
    if (live) process.stderr.write('\r\u001b[2K');
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

function describe(s: FleetSpec): string {
  const d = (ms: number) => formatDuration(ms);
  return [
    `${s.apiservers} apiservers, ${n(s.objects)} Secrets, ${d(s.durationMs)}`,
    s.rotateEveryMs ? `key rotation every ${d(s.rotateEveryMs)}` : 'no key rotation',
    s.restartEveryMs ? `each apiserver restarted every ${d(s.restartEveryMs)}` : 'no restarts',
    s.outages.length
      ? `KMS outages ${s.outages.map((x) => `${d(x.atMs)}+${d(x.durationMs)}`).join(', ')}`
      : 'no outage',
    `${s.writesPerSecond.toFixed(1)} writes/s, ${s.readsPerSecond} etcd reads/s`,
    s.healthCheckEveryMs ? `/readyz every ${d(s.healthCheckEveryMs)}` : 'no health checks',
    `KMS latency ${s.kmsLatencyMs} ms`,
    `plugin ${s.plugin.name}: ${s.plugin.encrypt} Encrypt + ${s.plugin.decrypt} Decrypt at the cloud per Status${s.plugin.cacheMs ? `, at most once per ${d(s.plugin.cacheMs)}` : ''}`,
  ].join('; ');
}

function render(
  results: Array<FleetResult & { cost: { total: number; withoutStatus: number } }>,
  price: number,
): string {
  const col = (f: (r: (typeof results)[number]) => string) => results.map(f);
  return table([
    ['', ...col((r) => `KMS ${r.kms}`)],
    ['Status calls', ...col((r) => (r.kms === 'v1' ? '- (v1 has none)' : n(r.calls.Status)))],
    ['Encrypt calls', ...col((r) => n(r.calls.Encrypt))],
    ['Decrypt calls', ...col((r) => n(r.calls.Decrypt))],
    ['total calls', ...col((r) => n(r.calls.total))],
    ['peak calls/s', ...col((r) => `${n(r.peakPerSecond)} (at ${formatDuration(r.peakAtSecond * 1000)})`)],
    ['DEK seeds (v2) / DEKs (v1) made', ...col((r) => n(r.dekSources))],
    ['refused while the KMS was down', ...col((r) => n(r.refused.Status + r.refused.Encrypt + r.refused.Decrypt))],
    ['LISTs still decrypting at the end', ...col((r) => n(r.unfinished.lists))],
    [
      '  their calls not yet made (backlog)',
      ...col((r) => n(r.unfinished.calls.Status + r.unfinished.calls.Encrypt + r.unfinished.calls.Decrypt)),
    ],
    ['writes that failed', ...col((r) => n(r.failedWrites))],
    ['cloud KMS calls (billed)', ...col((r) => n(r.cloud.calls.total))],
    ['  Encrypt / Decrypt', ...col((r) => `${n(r.cloud.calls.Encrypt)} / ${n(r.cloud.calls.Decrypt)}`)],
    ['  made to answer Status', ...col((r) => (r.kms === 'v1' ? '- (v1 has none)' : n(r.cloud.forStatus)))],
    [
      '  peak calls/s',
      ...col((r) => `${n(r.cloud.peakPerSecond)} (at ${formatDuration(r.cloud.peakAtSecond * 1000)})`),
    ],
    [`cost at ${price}/10k requests`, ...col((r) => money(r.cost.total))],
    ['  of which not Status', ...col((r) => money(r.cost.withoutStatus))],
  ]);
}

const n = (x: number) => Math.round(x).toLocaleString('en-US');
const money = (x: number) => (x >= 1 ? x.toFixed(2) : x.toPrecision(2));

// Durations as the rest of kmslab reads them (harness/common/duration.ts); limits are the model's (FLEET_LIMITS).
function duration(flag: string) {
  return (text: string): number => parseDuration(text, { what: flag });
}

function outage(text: string): { atMs: number; durationMs: number } {
  const [at, length, extra] = text.split('+');
  if (at === undefined || length === undefined || extra !== undefined) {
    throw new KmslabError('usage', `--outage "${text.slice(0, 40)}" is not <at>+<for>; write e.g. 6h+15m`);
  }
  return { atMs: at === '0' ? 0 : duration('--outage start')(at), durationMs: duration('--outage length')(length) };
}

function plugin(text: string): PluginStyle {
  const style = pluginStyle(text);
  if ('problem' in style) throw new KmslabError('usage', style.problem);
  return style;
}

// A count as written (1000000, 1_000_000, 1e6); whether it is within the model's limits is checked on the spec.
function count(flag: string) {
  return (text: string): number => {
    const v = Number(text.replaceAll('_', ''));
    if (text.trim() === '' || !Number.isInteger(v))
      throw new KmslabError('usage', `${flag} "${text.slice(0, 40)}" is not a whole number`);
    return v;
  };
}

function rate(flag: string) {
  return (text: string): number => {
    const v = Number(text);
    if (text.trim() === '' || !Number.isFinite(v) || v < 0)
      throw new KmslabError('usage', `${flag} "${text.slice(0, 40)}" is not a number ≥ 0`);
    return v;
  };
}
