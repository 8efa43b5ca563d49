import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { packageRoot } from '../harness/common/paths.js';
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

  test('the README’s real-cluster example passes on this correctly encrypted cluster; unscoped, it would not', async () => {
    // The example as the README writes it, pointed at the lab's etcd (plain http: no TLS files).
    const readme = readFileSync(join(packageRoot, 'README.md'), 'utf8');
    const example =
      /`kmslab inspect --etcd https:\/\/10\.0\.0\.5:2379 --cacert ca\.crt --cert client\.crt --key client\.key\s+([^`]+)`/.exec(
        readme,
      );
    expect(example, 'the README has no real-cluster inspect example').not.toBeNull();
    const dir = mkdtempSync(join(tmpdir(), 'kmslab-gate-'));
    try {
      const args = example![1]!
        .trim()
        .split(/\s+/)
        .map((a) => (a === 'inspect.xml' ? join(dir, a) : a));
      const r = await kmslab(['inspect', '--etcd', etcdUrl, ...args]);
      expect(r.exitCode, `${args.join(' ')}: ${String(r.stdout)}${String(r.stderr)}`).toBe(0);
      if (args.includes('--junit')) {
        const xml = readFileSync(join(dir, 'inspect.xml'), 'utf8');
        expect(xml).toMatch(/<testcase classname="kmslab\.inspect\.plaintext" name="secrets"/);
        expect(xml).not.toMatch(/<failure/);
      }
      // Without its scope the same gate fails on every cluster: ClusterRoles and the like are never encrypted.
      const scope = args.indexOf('--resource');
      expect(scope, 'the example is not scoped with --resource').toBeGreaterThanOrEqual(0);
      const unscoped = args.filter(
        (_, i) => i !== scope && i !== scope + 1 && args[i - 1] !== '--junit' && args[i] !== '--junit',
      );
      const everything = await kmslab(['inspect', '--etcd', etcdUrl, ...unscoped]);
      expect(everything.exitCode).toBe(1);
      expect(everything.stdout).toMatch(/^clusterroles +\d+ +plaintext \d+ \(100\.0%\)$/m);
      expect(everything.stdout).toMatch(/^ {2}\/registry\/(?!secrets\/)\S+ {2}plaintext$/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
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
