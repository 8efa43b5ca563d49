import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { isRunning } from '../harness/process/process-identity.js';
import { findBinary, type LabRecord } from '../harness/index.js';
import { kmslab } from './support/cli.js';
import { isolateHome, uniqueName } from './support/env.js';

const home = isolateHome();
const record = (name: string) => JSON.parse(readFileSync(join(home, 'labs', name, 'lab.json'), 'utf8')) as LabRecord;

describe('kmslab up / status / list / down', () => {
  test('up --json describes a ready lab; down leaves none of its processes', async () => {
    const name = uniqueName('cli');
    const up = await kmslab(['up', '--name', name, '--json']);
    expect(up.exitCode, String(up.stderr)).toBe(0);
    const lab = JSON.parse(String(up.stdout));
    expect(lab).toMatchObject({ name, kms: { provider: 'kmslab' } });
    for (const field of ['dir', 'kubeconfig', 'apiserver', 'etcd', 'encryptionConfig']) expect(lab[field]).toBeTruthy();
    expect(lab.kms.socket).toMatch(/kms\.sock$/);

    const processes = record(name).processes;
    expect(processes.map((p) => p.name).sort()).toEqual(['etcd', 'fake-kms', 'kube-apiserver']);
    expect(processes.every(isRunning)).toBe(true);

    const status = await kmslab(['status', '--name', name, '--json']);
    expect(status.exitCode).toBe(0);
    expect(JSON.parse(String(status.stdout))).toMatchObject({ state: 'running' });
    expect(String((await kmslab(['list'])).stdout)).toContain(name);

    const taken = await kmslab(['up', '--name', name]);
    expect(taken.exitCode).toBe(2);
    expect(String(taken.stderr)).toContain('already running');

    const down = await kmslab(['down', '--name', name]);
    expect(down.exitCode, String(down.stderr)).toBe(0);
    expect(processes.filter(isRunning)).toEqual([]);
    expect((await kmslab(['status', '--name', name])).exitCode).toBe(2);
  });

  test('a lab whose starter was SIGKILLed mid-start is still stopped cleanly by down', async () => {
    const name = uniqueName('crash');
    const up = kmslab(['up', '--name', name]);
    // Wait until the apiserver process is recorded, i.e. the starter is in the middle of its work.
    for (let i = 0; i < 600; i++) {
      try {
        if (record(name).processes.some((p) => p.name === 'kube-apiserver')) break;
      } catch {
        // lab.json not written yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    up.kill('SIGKILL');
    await up;
    const processes = record(name).processes;
    expect(processes.length).toBe(3);
    expect(processes.every(isRunning)).toBe(true);

    const down = await kmslab(['down', '--name', name]);
    expect(down.exitCode, String(down.stderr)).toBe(0);
    expect(processes.filter(isRunning)).toEqual([]);
  });

  test('usage errors exit 2 with a message that says what to do', async () => {
    const unknown = await kmslab(['up', '--bogus']);
    expect(unknown.exitCode).toBe(2);
    expect(String(unknown.stderr)).toContain("unknown option '--bogus'");

    const badName = await kmslab(['up', '--name', 'Bad_Name']);
    expect(badName.exitCode).toBe(2);
    expect(String(badName.stderr)).toContain('lab name "Bad_Name" is not valid');

    const provider = await kmslab(['up', '--name', uniqueName('prov'), '--provider', 'kms:é']);
    expect(provider.exitCode).toBe(2);
    expect(String(provider.stderr)).toContain('KMS provider name "kms:é" is not valid');

    const missing = await kmslab(['up', '--name', uniqueName('nobin')], {
      env: { KMSLAB_KUBE_APISERVER: '/nonexistent/kube-apiserver' },
    });
    expect(missing.exitCode).toBe(2);
    expect(String(missing.stderr)).toContain(
      'KMSLAB_KUBE_APISERVER=/nonexistent/kube-apiserver is not an executable file',
    );

    // etcd is found (given explicitly), so the message must be about the kube-apiserver version asked for.
    const noGo = await kmslab(['up', '--name', uniqueName('nogo'), '--k8s-version', 'v1.99.0'], {
      env: {
        PATH: '/nonexistent',
        KMSLAB_CACHE: join(home, 'empty-cache'),
        KMSLAB_ETCD: (await findBinary('etcd')).path,
      },
    });
    expect(noGo.exitCode).toBe(2);
    expect(String(noGo.stderr)).toMatch(
      /no kube-apiserver v1\.99\.0 binary found[\s\S]*set KMSLAB_KUBE_APISERVER=[\s\S]*KUBEBUILDER_ASSETS[\s\S]*install Go/,
    );
  });
});

describe('a run obeys Ctrl-C and SIGTERM, and stays within its limits', () => {
  // Starts a run, sends `signal` once `when` shows on stderr, and says how long the run took to exit after it.
  async function interrupt(args: string[], when: RegExp, signal: NodeJS.Signals) {
    const run = kmslab(args);
    let stderr = '';
    let labProcesses: LabRecord['processes'] = [];
    let labDirs: string[] = [];
    let sentAt = 0;
    run.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (!sentAt && when.test(stderr)) {
        // The lab in flight, as recorded: these are what must be gone afterwards.
        const labs = existsSync(join(home, 'labs')) ? readdirSync(join(home, 'labs')) : [];
        labDirs = labs.filter((l) => existsSync(join(home, 'labs', l, 'lab.json'))).map((l) => join(home, 'labs', l));
        labProcesses = labDirs.flatMap(
          (d) => (JSON.parse(readFileSync(join(d, 'lab.json'), 'utf8')) as LabRecord).processes,
        );
        sentAt = Date.now();
        run.kill(signal);
      }
    });
    const r = await run;
    return { r, stderr, labProcesses, labDirs, exitMs: Date.now() - sentAt, sent: sentAt > 0 };
  }

  test("Ctrl-C in the middle of rotate's 150 s wait: exit 130 within 2 s, labs stopped, reports written", async () => {
    const reports = join(home, 'interrupted');
    const { r, stderr, labProcesses, labDirs, exitMs, sent } = await interrupt(
      ['run', 'rotate', '--json', `${reports}.json`, '--junit', `${reports}.xml`],
      /waiting for .*key_id/,
      'SIGINT',
    );
    expect(sent, stderr).toBe(true);
    expect(r.exitCode, stderr).toBe(130);
    expect(exitMs).toBeLessThan(2_000);
    expect(labProcesses.map((p) => p.name).sort()).toEqual(['etcd', 'fake-kms', 'kube-apiserver']);
    expect(labProcesses.filter(isRunning)).toEqual([]);
    expect(labDirs).toHaveLength(1);
    expect(labDirs.filter((d) => existsSync(d))).toEqual([]);
    const scenario = JSON.parse(readFileSync(`${reports}.json`, 'utf8')).scenarios[0];
    expect(scenario).toMatchObject({ name: 'rotate', outcome: 'failed' });
    const inFlight = scenario.steps.at(-1);
    expect(inFlight).toMatchObject({ outcome: 'failed', error: { class: 'interrupted' } });
    expect(inFlight.error.message).toBe('interrupted: the run got SIGINT');
    expect(readFileSync(`${reports}.xml`, 'utf8')).toMatch(/<failure message="interrupted: the run got SIGINT"/);
  });

  test('SIGTERM while the sim writes 5,000 Secrets: exit 143 within 2 s, the report written', async () => {
    const report = join(home, 'sim-term.json');
    const { r, stderr, exitMs, sent } = await interrupt(
      ['run', '--backend', 'sim', '--secrets', '5000', '--tag', 'core', '--json', report],
      /lab \S+ ready/,
      'SIGTERM',
    );
    expect(sent, stderr).toBe(true);
    expect(r.exitCode, stderr).toBe(143);
    expect(exitMs).toBeLessThan(2_000);
    const scenarios = JSON.parse(readFileSync(report, 'utf8')).scenarios;
    expect(scenarios.at(-1).outcome).toBe('failed');
    expect(scenarios.at(-1).error).toMatch(/interrupted: the run got SIGTERM/);
  });

  test.each([
    [
      ['--secrets', '1e9'],
      /--secrets 1,000,000,000 is outside what kmslab run allows for Secrets per scenario: 1 to 5,000/,
    ],
    [['--secrets', '0'], /--secrets 0 is outside .* 1 to 5,000/],
    [['--parallel', '17'], /--parallel 17 is outside what kmslab run allows for labs at once: 1 to 16/],
    [['--step-timeout', '25h'], /--step-timeout 1d1h is outside what kmslab run allows for a step: 1s to 1d/],
    [['--step-timeout', 'soon'], /--step-timeout "soon" is not a duration/],
  ])('run %j is a usage error naming the limit (exit 2), before any lab', async (args, message) => {
    const r = await kmslab(['run', '--backend', 'sim', 'enable-new', ...args]);
    expect(r.exitCode).toBe(2);
    expect(String(r.stderr)).toMatch(message);
    expect(String(r.stderr)).not.toMatch(/starting a lab|\n\s+at /);
  });
});

describe('a failed up leaves only what explains the failure', () => {
  test('an apiserver that dies at start: the logs stay (and where they are is said), nothing else', async () => {
    const name = uniqueName('dies');
    const r = await kmslab(['up', '--name', name], { env: { KMSLAB_KUBE_APISERVER: '/bin/false' } });
    expect(r.exitCode).toBe(1);
    const dir = join(home, 'labs', name);
    expect(String(r.stderr)).toContain(`(its logs are kept in ${dir}/logs; kmslab down --name ${name} removes them)`);
    expect(readdirSync(dir).sort()).toEqual(['lab.json', 'logs']);
    expect(readdirSync(join(dir, 'logs'))).toContain('kube-apiserver.log');
    expect(record(name)).toMatchObject({ status: 'failed' });
    expect(record(name).processes.filter(isRunning)).toEqual([]);
    expect(String((await kmslab(['list'])).stdout)).toMatch(new RegExp(`${name}\\s+failed`));
    expect((await kmslab(['down', '--name', name])).exitCode).toBe(0);
    expect(existsSync(dir)).toBe(false);
  });

  test('a start that fails before anything ran (no binary) leaves no directory', async () => {
    const name = uniqueName('nobin');
    const r = await kmslab(['up', '--name', name], { env: { KMSLAB_KUBE_APISERVER: '/nonexistent/kube-apiserver' } });
    expect(r.exitCode).toBe(2);
    expect(existsSync(join(home, 'labs', name))).toBe(false);
  });
});
