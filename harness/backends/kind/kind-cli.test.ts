import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { packageRoot } from '../../common/paths.js';
import { KindCli } from './kind-cli.js';

// Orchestration against a fake `kind` that records its arguments (test/support/fake-kind/kind).
const fake = join(packageRoot, 'test/support/fake-kind/kind');
const setup = (mode = 'ok') => {
  const dir = mkdtempSync(join(tmpdir(), 'fake-kind-'));
  const log = join(dir, 'calls.jsonl');
  const env = { ...process.env, FAKE_KIND_LOG: log, FAKE_KIND_MODE: mode, FAKE_KIND_CHILD_PID: join(dir, 'child.pid') };
  const calls = () =>
    readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { argv: string[]; pid: number });
  return { dir, env, calls, cli: new KindCli(fake, 'docker', env) };
};
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('create, kubeconfig, logs and delete pass the flags kind takes', async () => {
  const { dir, calls, cli } = setup();
  await cli.createCluster({
    name: 'kmslab-demo',
    config: join(dir, 'kind.yaml'),
    kubeconfig: join(dir, 'kubeconfig'),
    wait: '2m',
  });
  await cli.getKubeconfig('kmslab-demo');
  await cli.exportLogs('kmslab-demo', join(dir, 'logs'));
  await cli.deleteCluster('kmslab-demo');
  expect(calls().map((c) => c.argv)).toEqual([
    [
      'create',
      'cluster',
      '--name',
      'kmslab-demo',
      '--config',
      join(dir, 'kind.yaml'),
      '--kubeconfig',
      join(dir, 'kubeconfig'),
      '--wait',
      '2m',
    ],
    ['get', 'kubeconfig', '--name', 'kmslab-demo'],
    ['export', 'logs', join(dir, 'logs'), '--name', 'kmslab-demo'],
    ['delete', 'cluster', '--name', 'kmslab-demo'],
  ]);
  expect(existsSync(join(dir, 'kubeconfig'))).toBe(true);
});

test('a failed create says which command failed and how, with kind’s own words', async () => {
  const { dir, cli } = setup('fail');
  await expect(
    cli.createCluster({ name: 'x', config: join(dir, 'k.yaml'), kubeconfig: join(dir, 'kc') }),
  ).rejects.toThrow(
    /kind create cluster --name x --config \S+k\.yaml[\s\S]*\(exit 1\):\n[\s\S]*failed to init node with kubeadm/,
  );
});

test('aborting a create kills kind and everything it started (the whole process group)', async () => {
  const { dir, cli, calls } = setup('hang');
  const abort = new AbortController();
  const create = cli.createCluster({
    name: 'x',
    config: join(dir, 'k.yaml'),
    kubeconfig: join(dir, 'kc'),
    signal: abort.signal,
  });
  const childPidFile = join(dir, 'child.pid');
  for (let i = 0; i < 100 && !existsSync(childPidFile); i++) await new Promise((r) => setTimeout(r, 50));
  const child = Number(readFileSync(childPidFile, 'utf8'));
  const kind = calls()[0]!.pid;
  expect(alive(child) && alive(kind)).toBe(true);
  abort.abort();
  await expect(create).rejects.toThrow(/aborted/);
  for (let i = 0; i < 40 && (alive(child) || alive(kind)); i++) await new Promise((r) => setTimeout(r, 50));
  expect([alive(kind), alive(child)]).toEqual([false, false]);
});
