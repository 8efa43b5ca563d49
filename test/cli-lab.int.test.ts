import { readFileSync } from 'node:fs';
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
