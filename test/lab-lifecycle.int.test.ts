import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { LocalLab, startLab, type LabRecord } from '../harness/index.js';
import { KubeApi } from '../harness/backends/common/kube-api.js';
import { readToken } from '../harness/labs/lab-status.js';
import { isRunning } from '../harness/process/process-identity.js';
import { kmslab } from './support/cli.js';
import { isolateHome, uniqueName } from './support/env.js';

const home = isolateHome();
const record = (name: string) => JSON.parse(readFileSync(join(home, 'labs', name, 'lab.json'), 'utf8')) as LabRecord;
// Every process whose command line mentions the lab dir: what a leak would look like, recorded or not.
const processesOf = (dir: string) =>
  execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes(dir) && !l.includes('ps -eo'));

describe('lab names and starts', () => {
  test('two ups of one name at once: one lab, the other fails at once with exit 2 and touches nothing', async () => {
    const name = uniqueName('race');
    const [a, b] = await Promise.all([kmslab(['up', '--name', name]), kmslab(['up', '--name', name])]);
    const codes = [a.exitCode, b.exitCode].sort();
    expect(codes, `${a.stderr}\n---\n${b.stderr}`).toEqual([0, 2]);
    const loser = a.exitCode === 2 ? a : b;
    expect(String(loser.stderr)).toMatch(/being started by another kmslab process|already running/);
    const winner = record(name);
    expect(winner.status).toBe('ready');
    expect(winner.processes.every(isRunning)).toBe(true);
    expect((await kmslab(['down', '--name', name])).exitCode).toBe(0);
    expect(winner.processes.filter(isRunning)).toEqual([]);
    expect(processesOf(winner.dir)).toEqual([]);
  });

  // Abort as each member is about to start, and while it starts: nothing may survive the failed start.
  test.each([
    ['starting fake-kms', 0],
    ['starting etcd', 0],
    ['starting etcd', 300],
    ['starting kube-apiserver', 0],
    ['starting kube-apiserver', 1500],
  ])('an abort at "%s" (+%i ms) leaves no process behind', async (stage, delayMs) => {
    const name = uniqueName('abort');
    const abort = new AbortController();
    const started = LocalLab.start({
      name,
      signal: abort.signal,
      onProgress: (m) => {
        if (m.startsWith(stage)) setTimeout(() => abort.abort(), delayMs);
      },
    });
    await expect(started).rejects.toThrow(/interrupted/);
    const r = record(name);
    expect(r.processes.length).toBeGreaterThan(0);
    expect(r.processes.filter(isRunning)).toEqual([]);
    expect(processesOf(r.dir)).toEqual([]);
    expect((await kmslab(['down', '--name', name])).exitCode).toBe(0);
  });

  test('bounds and bad values are refused up front with exit 2 and one line, never a stack trace', async () => {
    const cases = [
      [['up', '--name', uniqueName('many'), '--apiservers', '1000'], /runs 1 to 5 kube-apiservers/],
      [['inspect', '--etcd', 'not-a-url'], /is not an etcd client URL/],
      [['inspect', '--etcd', 'http://127.0.0.1:1', '--fail-on', 'sometimes'], /is not a condition/],
      [['kms', 'fault', 'error', '--code', 'BOGUS', '--control', '/nonexistent.sock'], /argument 'BOGUS' is invalid/],
      [['kms', 'fault', 'error', '--probability', 'abc', '--control', '/nonexistent.sock'], /from 0 to 1/],
    ] as const;
    for (const [args, message] of cases) {
      const r = await kmslab([...args]);
      expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(String(r.stderr)).toMatch(message);
      expect(String(r.stderr)).not.toMatch(/\n\s+at /);
    }
    const readOnly = await kmslab(['up', '--name', 'ro'], { env: { KMSLAB_HOME: '/sys/fs/kmslab' } });
    expect(readOnly.exitCode).toBe(1);
    expect(String(readOnly.stderr)).toMatch(/cannot use \/sys\/fs\/kmslab.*KMSLAB_HOME/);
    expect(String(readOnly.stderr)).not.toMatch(/\n\s+at /);
  });

  test('inspect of an endpoint that accepts and never answers fails within its deadline', async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    const t = Date.now();
    const r = await kmslab(['inspect', '--etcd', `http://127.0.0.1:${port}`, '--timeout', '2']);
    silent.close();
    // 3, not 1: a gate tells "could not read etcd" from "the check failed".
    expect(r.exitCode).toBe(3);
    expect(String(r.stderr)).toMatch(/could not read etcd at http:\/\/127\.0\.0\.1/);
    expect(Date.now() - t).toBeLessThan(60_000);
  });
});

describe('kmslab restart', () => {
  test('each component killed with SIGKILL comes back on its state; status names the dead; down stops what restart started', async () => {
    const name = uniqueName('restart');
    expect((await kmslab(['up', '--name', name])).exitCode).toBe(0);
    const lab = record(name);
    const api = async () =>
      new KubeApi({
        server: lab.apiservers[0]!.url,
        caPem: readFileSync(join(lab.dir, 'kube-apiserver', 'certs', 'apiserver.crt'), 'utf8'),
        token: await readToken(lab),
      });
    const ref = { namespace: 'default', name: 'kept' };
    const writer = await api();
    await writer.createSecret(ref, { password: 'survives-restarts' });
    writer.close();
    const before = await kmslab(['kms', 'rotate', '--name', name]);
    expect(before.exitCode).toBe(0);
    const keyId = JSON.parse(String(before.stdout)).keyId as string;

    for (const [process, component] of [
      ['fake-kms', 'kms'],
      ['etcd', 'etcd'],
      ['kube-apiserver', 'apiserver'],
    ] as const) {
      const victim = record(name).processes.find((p) => p.name === process)!;
      global.process.kill(victim.pid, 'SIGKILL');
      for (let i = 0; i < 100 && isRunning(victim); i++) await new Promise((r) => setTimeout(r, 50));
      const status = await kmslab(['status', '--name', name, '--json']);
      expect(status.exitCode, `${process} killed: ${status.stdout}`).toBe(1);
      const health = JSON.parse(String(status.stdout));
      expect(health.state).toBe('degraded');
      expect(health.processes.find((p: { name: string }) => p.name === process)).toMatchObject({
        alive: false,
        restart: `kmslab restart ${component} --name ${name}`,
      });
      if (component === 'kms') {
        const dead = await kmslab(['kms', 'start', '--name', name]);
        expect(dead.exitCode).toBe(1);
        expect(String(dead.stderr)).toContain(`kmslab restart kms --name ${name}`);
        expect(String(dead.stderr)).not.toMatch(/\n\s+at /);
      }
      const restart = await kmslab(['restart', component, '--name', name, '--json']);
      expect(restart.exitCode, String(restart.stderr)).toBe(0);
      expect(JSON.parse(String(restart.stdout)).restarted).toMatchObject([{ name: process, was: 'dead' }]);
    }
    // Same state: the rotated key is still the plugin's, and the whole lab answers.
    const kms = await kmslab(['kms', 'status', '--name', name, '--json']);
    expect(JSON.parse(String(kms.stdout)).keyId).toBe(keyId);
    const status = await kmslab(['status', '--name', name, '--json']);
    expect(JSON.parse(String(status.stdout)).state).toBe('running');
    const reader = await api();
    expect((await reader.readSecret(ref)).data.password?.toString()).toBe('survives-restarts');
    reader.close();

    const all = await kmslab(['restart', 'all', '--name', name, '--json']);
    expect(all.exitCode, String(all.stderr)).toBe(0);
    expect(JSON.parse(String(all.stdout)).restarted.map((r: { was: string }) => r.was)).toEqual([
      'running',
      'running',
      'running',
    ]);
    const live = record(name).processes;
    expect(live.every(isRunning)).toBe(true);
    expect((await kmslab(['down', '--name', name])).exitCode).toBe(0);
    expect(live.filter(isRunning)).toEqual([]);
    expect(processesOf(lab.dir)).toEqual([]);
  });
});

describe('a lab started from code', () => {
  test('removes itself when closed (nothing on disk, nothing listed); removeOnClose: false keeps it for down', async () => {
    const name = uniqueName('lib');
    const dir = join(home, 'labs', name);
    const lab = await startLab({ name });
    expect(existsSync(join(dir, 'lab.json'))).toBe(true);
    const processes = record(name).processes;
    await lab.close();
    expect(processes.filter(isRunning)).toEqual([]);
    expect(existsSync(dir)).toBe(false);
    expect(String((await kmslab(['list'])).stdout)).not.toContain(name);

    const kept = uniqueName('kept');
    await (await startLab({ name: kept, removeOnClose: false })).close();
    expect(record(kept).status).toBe('stopped');
    expect(String((await kmslab(['list'])).stdout)).toMatch(new RegExp(`${kept}\\s+stopped`));
    expect((await kmslab(['down', '--name', kept])).exitCode).toBe(0);
    expect(existsSync(join(home, 'labs', kept))).toBe(false);
  });
});
