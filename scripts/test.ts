// npm test's runner: three vitests side by side, as the tests that spend most of their time waiting on labs of
// their own need little of the 2 cores: the unit and integration tests; the waiting tests (write states that take
// minutes to expire, migrations, cloud labs); the container-engine tests (kind and compose labs, the no-pull
// engine). With KMSLAB_TEST_PREBUILD=1 (CI), what the tests would build on first use is built from the start at the
// lowest CPU priority: the images (`kmslab build --images`; the container-engine tests start once they are built),
// then the upgrade test's older kube-apiserver. On a fresh machine those builds no longer come before the tests. Each vitest runs its integration files one at a time. Extra arguments go to every vitest.
// Usage: [KMSLAB_TEST_PREBUILD=1] npx tsx scripts/test.ts [vitest arguments]
import { execa, type Result } from 'execa';
import { OLDEST_PINNED } from '../scenarios/upgrade-keeps-data.js';

const extra = process.argv.slice(2);
// A filter that names no file of one vitest must not fail that vitest.
const filtered = extra.length > 0 ? ['--passWithNoTests'] : [];
const junit = (name: string) => (process.env.CI ? [`--outputFile.junit=reports/junit-${name}.xml`] : []);
const running = new Set<ReturnType<typeof execa>>();

/** Lines of a child that shares the terminal with others carry its name, so interleaved logs can be told apart. */
function prefixed(name: string, child: ReturnType<typeof execa>): void {
  for (const stream of [child.stdout, child.stderr]) {
    let rest = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) process.stdout.write(`[${name}] ${line}\n`);
    });
    stream?.on('end', () => rest && process.stdout.write(`[${name}] ${rest}\n`));
  }
}

async function run(name: string, file: string, args: string[], o: { inherit?: boolean } = {}): Promise<Result> {
  const child = execa(file, args, {
    preferLocal: true,
    reject: false,
    stdin: 'ignore',
    stdout: o.inherit ? 'inherit' : 'pipe',
    stderr: o.inherit ? 'inherit' : 'pipe',
    forceKillAfterDelay: 10_000,
  });
  running.add(child);
  if (!o.inherit) prefixed(name, child);
  try {
    return await child;
  } finally {
    running.delete(child);
  }
}

const vitest = (name: string, projects: string[], o: { inherit?: boolean } = {}) =>
  run(name, 'vitest', ['run', ...projects.flatMap((p) => ['--project', p]), ...junit(name), ...filtered, ...extra], o);

// Ctrl-C reaches every child from the terminal (one process group; a second SIGINT would make vitest skip its
// cleanup, so it is not sent again); SIGTERM is passed on. This process then exits as they do.
let stopped = false;
process.on('SIGINT', () => void (stopped = true));
process.on('SIGTERM', () => {
  stopped = true;
  for (const child of running) child.kill('SIGTERM');
});

// What the tests would otherwise build on first use, each at the lowest CPU priority, one after the other.
const build = (name: string, args: string[]) =>
  stopped ? undefined : run(name, 'nice', ['-n', '19', process.execPath, 'bin/kmslab.js', 'build', ...args]);
const images = process.env.KMSLAB_TEST_PREBUILD === '1' ? build('images', ['--images']) : undefined;
// The upgrade test's older kube-apiserver: built by then, or the test waits for this build's lock.
const older = images?.then(() => build('older apiserver', ['--k8s-version', OLDEST_PINNED]));

const outcomes: Array<{ name: string; result: Result }> = [];
const record = (name: string) => (result: Result) => void outcomes.push({ name, result });
await Promise.all([
  vitest('main', ['unit', 'integration'], { inherit: true }).then(record('main')),
  vitest('waiting', ['waiting']).then(record('waiting')),
  (async () => {
    if (images) {
      const built = await images;
      record('images')(built);
      if (built.exitCode !== 0) return;
    }
    if (!stopped) record('containers')(await vitest('containers', ['containers']));
  })(),
  older?.then((r) => r && record('older apiserver')(r)),
]);

const failed = outcomes.filter(({ result }) => result.exitCode !== 0);
for (const { name, result } of failed) {
  console.error(`tests (${name}): ${result.signal ? `stopped by ${result.signal}` : `exit ${result.exitCode}`}`);
}
if (images && !outcomes.some((o) => o.name === 'containers')) console.error('tests (containers): not run');
process.exitCode =
  failed.length === 0 && !stopped ? 0 : (failed.find(({ result }) => result.exitCode)?.result.exitCode ?? 1);
