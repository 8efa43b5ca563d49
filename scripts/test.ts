// npm test's runner. The container-engine tests (kind and compose labs, the no-pull engine) and the cloud-lab tests
// spend most of their time waiting on labs of their own, so they run in a second vitest beside the unit and
// integration tests instead of after them. Each vitest still runs its integration files one at a time. Extra arguments go to both.
// Usage: npx tsx scripts/test.ts [vitest arguments]
import { execa, type ResultPromise } from 'execa';

const extra = process.argv.slice(2);
// A filter that names no file of one side must not fail that side.
const filtered = extra.length > 0 ? ['--passWithNoTests'] : [];
const junit = (name: string) => (process.env.CI ? [`--outputFile.junit=reports/junit-${name}.xml`] : []);

const sides: Array<{ name: string; run: ResultPromise }> = [
  { name: 'main', args: ['--project', 'unit', '--project', 'integration', ...junit('main')] },
  { name: 'cloud-containers', args: ['--project', 'cloud-containers', ...junit('cloud-containers')] },
].map(({ name, args }) => ({
  name,
  run: execa('vitest', ['run', ...args, ...filtered, ...extra], {
    preferLocal: true,
    reject: false,
    stdin: 'ignore',
    // The second side's lines carry its name, so the two logs can be told apart where they interleave.
    stdout: name === 'main' ? 'inherit' : 'pipe',
    stderr: name === 'main' ? 'inherit' : 'pipe',
    forceKillAfterDelay: 10_000,
  }),
}));

const second = sides[1]!;
for (const stream of [second.run.stdout, second.run.stderr]) {
  let rest = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (chunk: string) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) process.stdout.write(`[${second.name}] ${line}\n`);
  });
  stream?.on('end', () => rest && process.stdout.write(`[${second.name}] ${rest}\n`));
}

// Ctrl-C reaches both vitests from the terminal (one process group; a second SIGINT would make vitest skip its
// cleanup, so it is not sent again); SIGTERM is passed on. This process then exits as they do.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => {
  for (const side of sides) side.run.kill('SIGTERM');
});

const results = await Promise.all(sides.map((s) => s.run));
const failed = results.map((r, i) => ({ r, name: sides[i]!.name })).filter(({ r }) => r.exitCode !== 0);
for (const { r, name } of failed) {
  console.error(`tests (${name}): ${r.signal ? `stopped by ${r.signal}` : `exit ${r.exitCode}`}`);
}
process.exitCode = failed.length === 0 ? 0 : (failed.find(({ r }) => r.exitCode)?.r.exitCode ?? 1);
