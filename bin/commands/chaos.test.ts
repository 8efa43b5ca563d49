import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { packageRoot } from '../../harness/common/paths.js';
import { kmslab } from '../../test/support/cli.js';

const home = mkdtempSync(join(tmpdir(), 'kmslab-chaos-cli-'));
const chaos = (...args: string[]) => kmslab(['chaos', ...args], { env: { KMSLAB_HOME: home } });

describe('kmslab chaos refuses what it cannot do, exit 2, naming the limit', () => {
  test.each<[string, string[], RegExp]>([
    [
      'too many apiservers',
      ['--backend', 'sim', '--apiservers', '100'],
      /--apiservers 100 is out of range: chaos runs 1 to 5/,
    ],
    ['no apiserver', ['--backend', 'sim', '--apiservers', '0'], /--apiservers 0 is out of range/],
    [
      'a fault the sim cannot do',
      ['--backend', 'sim', '--faults', 'etcd-kill'],
      /etcd-kill: the sim backend has no etcd/,
    ],
    ['a model run past its limit', ['--backend', 'sim', '--duration', '9999999d'], /the most is 7d/],
    ['a local run past its limit', ['--duration', '13h'], /the most is 12h/],
    ['not a duration', ['--backend', 'sim', '--duration', '3 minutes'], /--duration "3 minutes" is not a duration/],
    [
      'a schedule event far past the end',
      ['--backend', 'sim', '--duration', '1h', '--schedule', 'kms-error@999999999999999+1000'],
      /ends after the run \(--duration 1h = 3600000 ms\)/,
    ],
    [
      'an apiserver the lab does not have',
      ['--backend', 'sim', '--duration', '1h', '--schedule', 'apiserver-restart@1000#5'],
      /targets apiserver 5, but the lab has 2/,
    ],
  ])('%s', async (_, args, message) => {
    const r = await chaos(...args);
    const out = `${String(r.stdout)}${String(r.stderr)}`;
    expect(r.exitCode, out).toBe(2);
    expect(out).toMatch(message);
  });
});

describe('the replay line', () => {
  // Runs what the CLI printed through a shell, with printf in place of kmslab: the words the shell sees.
  const words = (line: string, cwd: string) =>
    execFileSync('sh', ['-c', line.replace(/^kmslab /, `printf '%s\\n' `)], { cwd, encoding: 'utf8' }).split('\n');

  test.each([
    ['a seed with shell syntax', 'a;touch pwned;#'],
    ['an empty seed', ''],
    ['a seed with quotes and spaces', `it's "quoted" $(touch pwned)`],
  ])('%s is quoted: pasting it runs kmslab with exactly that seed, and nothing else', async (_, seed) => {
    const r = await chaos('--backend', 'sim', '--duration', '1h', '--faults', 'kms-error', '--seed', seed);
    const out = `${String(r.stdout)}${String(r.stderr)}`;
    const line = /replay exactly with: (.*)/.exec(out)?.[1];
    expect(line, out).toBeDefined();
    const dir = mkdtempSync(join(tmpdir(), 'kmslab-replay-'));
    const argv = words(line!, dir);
    expect(argv.slice(0, 5)).toEqual(['chaos', '--backend', 'sim', '--seed', seed]);
    expect(argv).toContain('--schedule');
    expect(existsSync(join(dir, 'pwned'))).toBe(false);
  });
});

test('a run that could not judge an invariant says so and does not pass (exit 1)', async () => {
  const r = await chaos('--backend', 'sim', '--duration', '1h', '--faults', 'kms-latency', '--seed', 'x');
  expect(r.exitCode).toBe(1);
  expect(r.stdout).toMatch(/\? chaos inconclusive/);
  expect(r.stdout).toMatch(/\? health-agrees-with-plugin[\s\S]*not judged: too short to judge/);
});

test('SIGTERM stops a long model run within 2 s, after it has shown progress', async () => {
  const child = spawn(
    process.execPath,
    [`${packageRoot}/bin/kmslab.js`, 'chaos', '--backend', 'sim', '--duration', '7d'],
    {
      env: { ...process.env, KMSLAB_HOME: home },
    },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await expect.poll(() => out, { timeout: 30_000, interval: 100 }).toMatch(/… \S+ of 7d \(virtual\)/);
  const sent = Date.now();
  child.kill('SIGTERM');
  expect(await exited).toBe(130);
  expect(Date.now() - sent).toBeLessThan(2_000);
  expect(out).toMatch(/interrupted: the lab is stopped; nothing was checked/);
}, 60_000);
