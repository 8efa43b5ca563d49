// Benchmark: chaos seeds per hour, on the sim and on local labs, measured in the same run through the CLI as a user
// runs them (`kmslab chaos --seeds A..B --shard i/n --result …`), and the rate projected for a 16-worker Indexed Job
// or matrix (16 machines like this one, each running its shard; merge costs well under a second).
//   sim   1 process, and n processes at once (one shard each: the machine's cores), 24 h of virtual time per seed;
//   local 1 process (a lab of etcd + 2 kube-apiservers takes both cores), 1 min of workload per seed, then the
//         recovery every chaos run makes (every apiserver restarted, every Secret read).
// Local labs start real etcd and kube-apiserver: run it under the heavy lock.
// Usage: flock /tmp/kmslab-heavy.lock npx tsx bench/chaos-seeds.ts [simSeeds=12] [localSeeds=2] [simShards=2]
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { median } from './median.js';

const simSeeds = Number(process.argv[2] ?? 12);
const localSeeds = Number(process.argv[3] ?? 2);
const simShards = Number(process.argv[4] ?? 2);
const WORKERS = 16;
const dir = mkdtempSync(join(tmpdir(), 'kmslab-bench-chaos-seeds-'));
const kmslab = join(import.meta.dirname, '../bin/kmslab.js');

interface Measured {
  setup: string;
  seeds: number;
  wallS: number;
  perSeedS: number;
  outcomes: Record<string, number>;
}

/** shards runs `count` shards of seeds 1..n at once and measures the wall time until the last one ends. */
async function shards(setup: string, n: number, count: number, args: string[]): Promise<Measured> {
  const started = performance.now();
  const files = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const file = join(dir, `${setup.replace(/\W+/g, '-')}-${i + 1}.json`);
      await promisify(execFile)(
        process.execPath,
        [kmslab, 'chaos', ...args, '--seeds', `1..${n}`, '--shard', `${i + 1}/${count}`, '--result', file],
        { env: { ...process.env, KMSLAB_HOME: join(dir, 'home') }, maxBuffer: 64 << 20 },
      ).catch((error: { code?: number }) => {
        if (error.code !== 1) throw error; // 1: a seed found an anomaly, which is a result too
      });
      return file;
    }),
  );
  const wallS = (performance.now() - started) / 1000;
  const results = files.flatMap(
    (f) =>
      (
        JSON.parse(readFileSync(f, 'utf8')) as {
          results: Array<{ result: { report: { outcome: string; wallMs: number } } }>;
        }
      ).results,
  );
  const outcomes: Record<string, number> = {};
  for (const r of results) outcomes[r.result.report.outcome] = (outcomes[r.result.report.outcome] ?? 0) + 1;
  return {
    setup,
    seeds: results.length,
    wallS,
    perSeedS: median(results.map((r) => r.result.report.wallMs / 1000)),
    outcomes,
  };
}

const sim = ['--backend', 'sim', '--duration', '24h'];
const local = ['--backend', 'local', '--duration', '1m'];
const rows: Measured[] = [];
rows.push(await shards('sim, 24h per seed, 1 process', simSeeds, 1, sim));
rows.push(await shards(`sim, 24h per seed, ${simShards} processes`, simSeeds, simShards, sim));
if (localSeeds > 0) rows.push(await shards('local, 1m per seed, 1 process', localSeeds, 1, local));

const perHour = (r: Measured) => (3600 * r.seeds) / r.wallS;
console.log(
  `chaos seeds per hour on this machine (${(await import('node:os')).cpus().length} cores), ${new Date().toISOString()}`,
);
console.log('setup | seeds | wall | median seed | seeds/hour | projected, 16 workers | outcomes');
for (const r of rows) {
  console.log(
    [
      r.setup,
      r.seeds,
      `${r.wallS.toFixed(1)} s`,
      `${r.perSeedS.toFixed(1)} s`,
      perHour(r).toFixed(0),
      (WORKERS * perHour(r)).toFixed(0),
      JSON.stringify(r.outcomes),
    ].join(' | '),
  );
}
