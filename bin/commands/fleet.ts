import { Command, Option } from '@commander-js/extra-typings';
import { KmslabError } from '../../harness/common/errors.js';
import type { FleetResult, FleetSpec, KmsVersion } from '../../sim/index.js';
import { printJson, table } from '../output.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

const MODEL_NOTE =
  'A model of the apiserver’s KMS behaviour (sim/fleet*), not a measurement. Simulated one by one: apiserver starts ' +
  'and restarts, Status polls, health probes, key rotations, outages. Aggregated: writes and reads (rates split ' +
  'over the ready apiservers, expected values), and objects (counted per DEK source, not one by one).';

export function fleetCommand(program: Command): void {
  program
    .command('fleet')
    .description(
      'model the KMS calls, peak rate, DEK seeds and cost of a fleet of apiservers over a period, KMS v1 against v2',
    )
    .requiredOption('--apiservers <n>', 'kube-apiservers in the fleet', count('--apiservers', 1))
    .requiredOption('--objects <n>', 'Secrets stored at the start', count('--objects', 0))
    .requiredOption('--duration <d>', 'how long to model, e.g. 24h, 7d', duration('--duration'))
    .addOption(
      new Option('--kms <version>', 'model only this KMS version (default: both, side by side)').choices([
        'v1',
        'v2',
      ] as const),
    )
    .option('--rotate-every <d>', 'the KMS key_id changes this often', duration('--rotate-every'))
    .option(
      '--restart-every <d>',
      'each apiserver restarts this often, staggered across the fleet',
      duration('--restart-every'),
    )
    .option(
      '--outage <at+for>',
      'the KMS is unreachable from <at> for <for>, e.g. 6h+15m; repeatable',
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
      'how often /readyz is hit on each apiserver (kubeadm’s readiness probe: 1s); 0 for never',
      (v: string) => (v === '0' ? 0 : duration('--health-checks-every')(v)),
      1000,
    )
    .option(
      '--kms-latency <ms>',
      'one KMS round trip; a LIST decrypts one object after another',
      rate('--kms-latency'),
      5,
    )
    .option(
      '--cache-size <n>',
      'KMS v1 DEK cache per apiserver (EncryptionConfiguration cachesize)',
      count('--cache-size', 1),
      1000,
    )
    .option(
      '--list-concurrency <n>',
      'objects a watch cache decodes at once: 10 on kube-apiserver 1.37 (ConcurrentWatchObjectDecode), 1 on 1.34–1.36',
      count('--list-concurrency', 1),
      10,
    )
    .option(
      '--price-per-10k <price>',
      'price of 10,000 KMS requests (0.03 is the AWS and Google Cloud list price)',
      rate('--price-per-10k'),
      0.03,
    )
    .option('--json', 'print as JSON')
    .action(async (o) => {
      const { costOf, runFleet } = await import('../../sim/fleet.js');
      const spec: FleetSpec = {
        apiservers: o.apiservers,
        objects: o.objects,
        durationMs: o.duration,
        writesPerSecond: o.writesPerSecond ?? o.objects / 86_400,
        readsPerSecond: o.readsPerSecond,
        rotateEveryMs: o.rotateEvery ?? 0,
        restartEveryMs: o.restartEvery ?? 0,
        outages: o.outage ?? [],
        events: [],
        healthCheckEveryMs: o.healthChecksEvery,
        kmsLatencyMs: o.kmsLatency,
        v1CacheSize: o.cacheSize,
        listDecodeConcurrency: o.listConcurrency,
      };
      const versions: KmsVersion[] = o.kms ? [o.kms] : ['v1', 'v2'];
      const started = performance.now();
      const results = versions.map((v) => runFleet(spec, v));
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
    ['writes that failed', ...col((r) => n(r.failedWrites))],
    [`cost at ${price}/10k requests`, ...col((r) => money(r.cost.total))],
    ['  of which not Status', ...col((r) => money(r.cost.withoutStatus))],
  ]);
}

const n = (x: number) => Math.round(x).toLocaleString('en-US');
const money = (x: number) => (x >= 1 ? x.toFixed(2) : x.toPrecision(2));

function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return ms >= 60_000 ? `${(ms / 3_600_000).toFixed(2)}h` : `${(ms / 1000).toFixed(1)}s`;
}

function duration(flag: string) {
  return (text: string): number => {
    const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)];
    const ms = parts.reduce((sum, p) => sum + Number(p[1]) * UNITS[p[2]!]!, 0);
    if (!parts.length || parts.map((p) => p[0]).join('') !== text || ms <= 0) {
      throw new KmslabError('usage', `${flag} "${text}" is not a duration; write e.g. 90s, 15m, 24h, 7d`);
    }
    return ms;
  };
}

function outage(text: string): { atMs: number; durationMs: number } {
  const [at, length] = text.split('+');
  if (at === undefined || length === undefined) {
    throw new KmslabError('usage', `--outage "${text}" is not <at>+<for>; write e.g. 6h+15m`);
  }
  return { atMs: at === '0' ? 0 : duration('--outage')(at), durationMs: duration('--outage')(length) };
}

function count(flag: string, min: number) {
  return (text: string): number => {
    const v = Number(text.replaceAll('_', ''));
    if (!Number.isInteger(v) || v < min)
      throw new KmslabError('usage', `${flag} "${text}" is not a whole number ≥ ${min}`);
    return v;
  };
}

function rate(flag: string) {
  return (text: string): number => {
    const v = Number(text);
    if (!Number.isFinite(v) || v < 0) throw new KmslabError('usage', `${flag} "${text}" is not a number ≥ 0`);
    return v;
  };
}
