// Benchmark: how fast kmslab's CLI answers and how fast the fake KMS a lab spawns is ready, run from source (tsx)
// and compiled (dist/, as installed), next to a bare `node -e 0` measured in the same run. Medians of interleaved
// rounds; peak RSS from the process itself.
// Usage: npm run build && npx tsx bench/cli-startup.ts [rounds] [kmslab entry to compare, e.g. an older checkout's bin/kmslab.js]
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../harness/common/paths.js';
import { median } from './median.js';

const rounds = Number(process.argv[2] ?? 7);
const older = process.argv[3];
const compiled = join(packageRoot, 'dist/bin/cli.js');
if (!existsSync(compiled)) throw new Error('dist/ is missing: run npm run build first');

// Each measured process reports its own peak RSS as it exits.
const reportRss = `data:text/javascript,${encodeURIComponent(
  "process.on('exit', () => process.stderr.write('maxrss ' + process.resourceUsage().maxRSS + '\\n'));",
)}`;

interface Sample {
  ms: number;
  rssMiB: number;
}

/** run starts node with args and measures until it exits, or until `ready` appears on stderr (then SIGTERM). */
function run(args: string[], ready?: string): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    let readyAt: number | undefined;
    let stderr = '';
    const child = spawn(process.execPath, ['--import', reportRss, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (ready && readyAt === undefined && stderr.includes(ready)) {
        readyAt = performance.now();
        // A server's peak so far, read before it is stopped (a signal may end it before its exit hook runs).
        const hwm = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1];
        stderr += `\nmaxrss ${hwm}\n`;
        child.kill('SIGTERM');
      }
    });
    child.on('exit', (code) => {
      const rss = Number(/maxrss (\d+)/.exec(stderr)?.[1]);
      if (!rss || (code !== 0 && !ready)) reject(new Error(`${args.join(' ')} failed (${code}): ${stderr}`));
      else resolve({ ms: (readyAt ?? performance.now()) - t, rssMiB: rss / 1024 });
    });
  });
}

const kms = () => {
  const dir = mkdtempSync(join(tmpdir(), 'kms-bench-'));
  return ['fake-kms', 'serve', `--socket=${dir}/kms.sock`, '--ephemeral'];
};
const fromSource = ['--import', 'tsx', join(packageRoot, 'bin/cli.ts')];
const cases: Array<[string, () => Promise<Sample>]> = [
  ['node -e 0 (baseline)', () => run(['-e', '0'])],
  ['kmslab --help, compiled', () => run([compiled, '--help'])],
  ['kmslab --help, from source (tsx)', () => run([...fromSource, '--help'])],
  // inspect and verify load only their own command (bin/single-command.ts): their budget is node + 150 ms.
  ['kmslab inspect --help, compiled', () => run([compiled, 'inspect', '--help'])],
  ['kmslab verify --help, compiled', () => run([compiled, 'verify', '--help'])],
  ['fake KMS ready, compiled', () => run([compiled, ...kms()], 'fake-kms serving')],
  ['fake KMS ready, from source (tsx)', () => run([...fromSource, ...kms()], 'fake-kms serving')],
  ...(older
    ? ([
        ['kmslab --help, older entry', () => run([older, '--help'])],
        ['fake KMS ready, older entry', () => run([older, ...kms()], 'fake-kms serving')],
      ] as Array<[string, () => Promise<Sample>]>)
    : []),
];

const samples = new Map<string, Sample[]>(cases.map(([name]) => [name, []]));
for (let r = 0; r < rounds; r++) for (const [name, measure] of cases) samples.get(name)!.push(await measure());

const base = median(samples.get(cases[0]![0])!.map((s) => s.ms));
console.log(`${rounds} rounds, medians; Node ${process.version}`);
console.log('case'.padEnd(36), 'ms'.padStart(7), 'vs node'.padStart(9), 'MiB'.padStart(6));
for (const [name, list] of samples) {
  const ms = median(list.map((s) => s.ms));
  console.log(
    name.padEnd(36),
    ms.toFixed(0).padStart(7),
    `${ms - base >= 0 ? '+' : ''}${(ms - base).toFixed(0)}`.padStart(9),
    median(list.map((s) => s.rssMiB))
      .toFixed(0)
      .padStart(6),
  );
}
