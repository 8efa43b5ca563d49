// Benchmark: the raw-etcd inspector against `etcdctl get --prefix` (Debian's etcd-client) on the same data.
// Starts a private etcd (kmslab's build), loads values shaped like real ones (KMS v2 envelopes and plaintext
// protobuf), and at each size times, in interleaved rounds:
//   in-process    inspectEtcd in a fresh child (fast path, compiled when dist/ exists, and the etcd3-client path
//                 it replaced), timed inside, with the child's peak RSS;
//   whole-process `kmslab inspect --etcd URL --summary` against `etcdctl get --prefix` (output to /dev/null),
//                 wall time including start-up, with peak RSS: compiled (dist/, as installed; `npm run build`
//                 first, else it is left out) and from source through tsx (a checkout's bin/kmslab.js);
//   start-up      before any value is loaded: `node -e 0` against compiled `kmslab inspect` of an empty prefix and
//                 `kmslab verify --etcd` of an empty resource (whole processes, etcd answering nothing).
// Usage: npx tsx bench/inspect.ts [sizes=100000,1000000] [rounds=3]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { findBinary } from '../harness/binaries/index.js';
import { EtcdMember } from '../harness/backends/local/etcd-member.js';
import { etcd3Range, inspectEtcd, openEtcd } from '../harness/inspect/index.js';
import { EncryptedDEKSourceType, encodeKmsV2Value, seededRandom } from '../sim/index.js';
import { median } from './median.js';

const CHILD = '--child';
const INSPECT_TARGET = 100_000; // values/s in process
// × etcdctl's wall time, whole process: at most 1.5× at 100k values (Node's start-up weighs most there), 1× from 1M.
const wholeTarget = (size: number) => (size >= 1_000_000 ? 1 : 1.5);
const STARTUP_TARGET_MS = 150; // over `node -e 0`

if (process.argv[2] === CHILD) {
  // One in-process measurement in a clean process: the time inside inspectEtcd and the peak RSS. The fast path
  // runs the compiled inspector when there is one (as installed), else the source.
  const [, , , url, path, compiledInspect] = process.argv;
  const client = path === 'etcd3' ? openEtcd(url!) : undefined;
  const inspect = compiledInspect
    ? ((await import(compiledInspect)) as { inspectEtcd: typeof inspectEtcd }).inspectEtcd
    : inspectEtcd;
  const report = await inspect({ etcd: client ? etcd3Range(client) : url!, prefix: '/registry/' });
  client?.close();
  // VmHWM, not resourceUsage().maxRSS: Linux carries a parent's high-water mark across fork and exec into the
  // child's maxRSS, and the bench parent holds the generated values (the "4 GiB child" of an earlier run).
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  const peak = Number(hwm?.[1] ?? 0) / 1024;
  console.log(JSON.stringify({ seconds: report.seconds, total: report.summary.total, peakMiB: peak }));
  process.exit(0);
}

const sizes = (process.argv[2] ?? '100000,1000000').split(',').map(Number);
const rounds = Number(process.argv[3] ?? 3);
const here = new URL('.', import.meta.url).pathname;
const repo = join(here, '..');
const dir = mkdtempSync(join(tmpdir(), 'kmslab-inspect-bench-'));
execFileSync('mkdir', ['-p', join(dir, 'logs')]);
const etcd = await EtcdMember.create((await findBinary('etcd')).path, dir);
await etcd.start();
const client = openEtcd(etcd.url);

const random = seededRandom('bench');
const value = (i: number) =>
  i % 5 === 0
    ? Buffer.concat([Buffer.from('k8s\u0000'), random.bytes(300)])
    : encodeKmsV2Value('kmslab', {
        encryptedData: random.bytes(380),
        keyID: `kmslab-v${1 + (i % 3)}-bench`,
        encryptedDEKSource: random.bytes(61),
        annotations: { 'key-version.kmslab.test': Buffer.from('1') },
        encryptedDEKSourceType: EncryptedDEKSourceType.HKDF_SHA256_XNONCE_AES_GCM_SEED,
      });

// Loads keys [from, to) in transactions of 128 puts (etcd's default --max-txn-ops), 8 at a time.
async function load(from: number, to: number): Promise<void> {
  const started = performance.now();
  const txns: Array<() => Promise<unknown>> = [];
  for (let i = from; i < to; i += 128) {
    const puts = Array.from({ length: Math.min(128, to - i) }, (_, j) => ({
      request_put: { key: Buffer.from(`/registry/secrets/ns-${(i + j) % 50}/secret-${i + j}`), value: value(i + j) },
    }));
    txns.push(() => client.kv.txn({ success: puts }));
  }
  for (let i = 0; i < txns.length; i += 8) await Promise.all(txns.slice(i, i + 8).map((t) => t()));
  console.log(`loaded ${to - from} values (now ${to}) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

interface Sample {
  seconds: number;
  peakMiB: number;
}

// Runs a command, returning its wall time and peak RSS as GNU time reports them.
async function wall(cmd: string, args: string[]): Promise<Sample> {
  const t = performance.now();
  const r = await execa('/usr/bin/time', ['-f', '%M', cmd, ...args], {
    env: { ETCDCTL_API: '3' },
    stdout: 'ignore',
    reject: false,
  });
  const seconds = (performance.now() - t) / 1000;
  if (r.exitCode !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.exitCode}: ${r.stderr}`);
  return { seconds, peakMiB: Number(r.stderr.trim().split('\n').pop()) / 1024 };
}

async function inProcess(path: 'fast' | 'etcd3'): Promise<Sample & { total: number }> {
  const compiledInspect = join(repo, 'dist/harness/inspect/inspect.js');
  const args = [join(here, 'inspect.ts'), CHILD, etcd.url, path];
  if (path === 'fast' && existsSync(compiledInspect)) args.push(compiledInspect);
  const r = await execa(process.execPath, ['--import', 'tsx', ...args], { cwd: repo });
  return JSON.parse(r.stdout) as Sample & { total: number };
}

const kmslab = join(repo, 'bin/kmslab.js');
const compiled = join(repo, 'dist/bin/cli.js');
const hasCompiled = existsSync(compiled);

// Start-up: whole processes against an etcd that answers nothing, in interleaved rounds, `node -e 0` as the baseline.
async function startup(): Promise<void> {
  const cases: Record<string, string[]> = {
    'node -e 0': ['-e', '0'],
    ...(hasCompiled
      ? {
          'kmslab inspect, compiled (empty prefix)': [compiled, 'inspect', '--etcd', etcd.url, '--prefix', '/none/'],
          'kmslab verify --etcd, compiled (empty)': [
            compiled,
            'verify',
            '--etcd',
            etcd.url,
            '--resource',
            'none',
            '--fail-on',
            'plaintext',
          ],
        }
      : {}),
  };
  const runs = new Map<string, number[]>(Object.keys(cases).map((k) => [k, []]));
  for (let r = 0; r < Math.max(rounds, 7); r++)
    for (const [name, args] of Object.entries(cases))
      runs.get(name)!.push((await wall(process.execPath, args)).seconds);
  const base = median(runs.get('node -e 0')!) * 1000;
  console.log('\nstart-up (whole process, nothing to read):');
  for (const [name, list] of runs) {
    const ms = median(list) * 1000;
    const over = ms - base;
    const verdict =
      name === 'node -e 0'
        ? ''
        : `  node + ${over.toFixed(0)} ms (target ≤ +${STARTUP_TARGET_MS}: ${over <= STARTUP_TARGET_MS ? 'met' : 'MISSED'})`;
    console.log(`  ${name.padEnd(42)} ${ms.toFixed(0)} ms${verdict}`);
  }
}

try {
  console.log(
    `node ${process.version}, ${rounds} interleaved rounds per size, medians shown; load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  await startup();
  let loaded = 0;
  for (const size of sizes) {
    await load(loaded, size);
    loaded = size;
    const runs: Record<string, Sample[]> = { etcdctl: [], cli: [], dist: [], fast: [], etcd3: [] };
    for (let r = 0; r < rounds; r++) {
      runs.etcdctl!.push(
        await wall('etcdctl', ['--command-timeout=120s', '--endpoints', etcd.url, 'get', '--prefix', '/registry/']),
      );
      if (hasCompiled)
        runs.dist!.push(await wall(process.execPath, [compiled, 'inspect', '--etcd', etcd.url, '--summary']));
      runs.cli!.push(await wall(process.execPath, [kmslab, 'inspect', '--etcd', etcd.url, '--summary']));
      const fast = await inProcess('fast');
      if (fast.total !== size) throw new Error(`inspector counted ${fast.total} values, expected ${size}`);
      runs.fast!.push(fast);
      // The etcd3-client path is slow at 1M; once per size is enough to show the ratio.
      if (r === 0) runs.etcd3!.push(await inProcess('etcd3'));
    }
    const t = (k: string) => median(runs[k]!.map((s) => s.seconds));
    const m = (k: string) => median(runs[k]!.map((s) => s.peakMiB));
    const rate = (k: string) => (size / t(k)).toFixed(0);
    console.log(`\n${size} values:`);
    console.log(
      `  etcdctl get --prefix (whole process)        ${t('etcdctl').toFixed(2)} s  peak ${m('etcdctl').toFixed(0)} MiB`,
    );
    const whole = (k: string, label: string) =>
      console.log(
        `  ${label.padEnd(42)} ${t(k).toFixed(2)} s  peak ${m(k).toFixed(0)} MiB  ${(t(k) / t('etcdctl')).toFixed(2)}× etcdctl's time (target ≤ ${wholeTarget(size)}×: ${t(k) / t('etcdctl') <= wholeTarget(size) ? 'met' : 'MISSED'})`,
      );
    if (hasCompiled) whole('dist', 'kmslab inspect, compiled (whole process)');
    whole('cli', 'kmslab inspect, tsx source (whole process)');
    console.log(
      `  inspectEtcd in process, raw Range path     ${t('fast').toFixed(2)} s  peak ${m('fast').toFixed(0)} MiB  ${rate('fast')} values/s (target ≥ ${INSPECT_TARGET}: ${size / t('fast') >= INSPECT_TARGET ? 'met' : 'MISSED'})`,
    );
    console.log(
      `  inspectEtcd in process, etcd3 client path  ${t('etcd3').toFixed(2)} s  peak ${m('etcd3').toFixed(0)} MiB  ${rate('etcd3')} values/s (1 run)`,
    );
    for (const k of hasCompiled ? ['dist', 'cli'] : ['cli']) {
      console.log(
        `  ${k === 'dist' ? 'compiled' : 'tsx source'} start-up and exit ≈ ${(t(k) - t('fast')).toFixed(2)} s (whole − in-process)`,
      );
    }
    console.log(
      `  load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
  }
} finally {
  client.close();
  await etcd.stop();
  rmSync(dir, { recursive: true, force: true });
}
