import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { kmsThenIdentity, readLab, startLab, type Lab } from '../harness/index.js';
import { kmslab } from './support/cli.js';
import { isolateHome, uniqueName } from './support/env.js';

// `kmslab inspect` as a gate, through the CLI, on a real etcd written by a real kube-apiserver: exit 0 while every
// Secret is KMS v2, exit 1 naming the offending keys once one is stored in plaintext or on another key_id.
isolateHome();
let lab: Lab;
let etcdUrl: string;
let keyId: string;

beforeAll(async () => {
  lab = await startLab({ name: uniqueName('gate'), removeOnClose: true });
  etcdUrl = (await readLab(lab.name))!.etcd!;
  await lab.api.ensureNamespace('app');
  for (const name of ['a', 'b', 'c']) await lab.api.createSecret({ namespace: 'app', name }, { v: name });
  keyId = (await lab.kms.status()).keyId;
}, 120_000);
afterAll(() => lab?.close());

const inspect = (...args: string[]) => kmslab(['inspect', '--name', lab.name, '--resource', 'secrets', ...args]);

describe('kmslab inspect as a gate', () => {
  test('all KMS v2: every gate passes, and the default output is the summary, not a row per key', async () => {
    for (const gate of [[], ['--fail-on', 'plaintext'], ['--fail-on', `not-key-id=${keyId}`]]) {
      const r = await inspect(...gate);
      expect(r.exitCode, `${gate.join(' ')}: ${String(r.stdout)}${String(r.stderr)}`).toBe(0);
    }
    const r = await inspect();
    expect(r.stdout).toMatch(/3 keys under \/registry\/secrets\//);
    expect(r.stdout).toContain(keyId);
    expect(r.stdout).not.toContain('/registry/secrets/app/a');
    const keys = await inspect('--keys');
    expect(keys.stdout).toContain('/registry/secrets/app/a');
  });

  test('a plaintext Secret fails --fail-on plaintext and not-key-id, naming it; the etcdctl variables work too', async () => {
    const apiserver = lab.apiservers[0]!;
    const kmsOn = kmsThenIdentity(lab.providerName, lab.kmsSocket);
    // Writes in plaintext, still reads the KMS v2 Secrets (a decryption rollback, or a misordered config).
    await apiserver.setEncryption(
      [{ resources: ['secrets'], providers: [{ identity: {} }, kmsOn.providers[0]!] }],
      'restart',
    );
    try {
      await lab.api.createSecret({ namespace: 'app', name: 'leaked' }, { v: 'plain' });
      const plaintext = await inspect('--fail-on', 'plaintext');
      expect(plaintext.exitCode).toBe(1);
      expect(plaintext.stdout).toMatch(/1 value\(s\) match --fail-on plaintext/);
      expect(plaintext.stdout).toMatch(/\/registry\/secrets\/app\/leaked {2}plaintext/);
      expect(plaintext.stdout).not.toMatch(/\/registry\/secrets\/app\/a {2}/);

      const rotatedAway = await inspect('--fail-on', `not-key-id=${keyId}`);
      expect(rotatedAway.exitCode).toBe(1);
      expect(rotatedAway.stdout).toContain('/registry/secrets/app/leaked');

      const onKey = await inspect('--fail-on', `key-id=${keyId}`, '--json');
      expect(onKey.exitCode).toBe(1);
      const report = JSON.parse(String(onKey.stdout));
      expect(report.offending).toBe(3);
      expect(report.rows).toHaveLength(4);
      expect(report.rows.map((r: { key: string }) => r.key)).toContain('/registry/secrets/app/leaked');

      const viaEnv = await kmslab(['inspect', '--resource', 'secrets', '--fail-on', 'plaintext'], {
        env: { ETCDCTL_ENDPOINTS: etcdUrl },
      });
      expect(viaEnv.exitCode).toBe(1);
      expect(viaEnv.stdout).toContain('/registry/secrets/app/leaked');
    } finally {
      await apiserver.setEncryption([kmsOn], 'restart');
    }
  });
});
