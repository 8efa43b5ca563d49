import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, test } from 'vitest';
import { startLab, type EncryptionRule, type LocalLab } from '../harness/index.js';
import { encryptionConfigYaml } from '../harness/kube/encryption-config.js';
import { lintEncryptionConfig } from '../harness/kube/encryption-config-lint.js';
import { classify } from '../sim/envelope.js';
import { parseConditions, verify, type VerifyReport } from '../verify/index.js';
import { KmsV1Plugin } from './support/kms-v1-plugin.js';
import { isolateHome, uniqueName } from './support/env.js';

// kmslab verify's verdict without etcd (the apiserver's metrics and health, a canary) against raw etcd's answer, on
// one local lab walked through the states where the truth is known: plaintext and KMS v1 values left before a
// migration, everything encrypted, a key_id rotation half migrated, identity listed first, the plugin down. The
// lab runs with --feature-gates=KMSv1=true so that KMS v1 values can be written (test/support/kms-v1-plugin.ts).
// KMSLAB_VERIFY_K8S=v1.34.4 runs the same walk on another kube-apiserver version.
isolateHome();
const dir = mkdtempSync(join(tmpdir(), 'verify-states-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const STORED = ['plaintext', 'kms-v1', 'not-prefix=k8s:enc:kms:v2:', 'provider!=kmslab'];

type Verdicts = Record<string, string>;
const verdicts = (r: VerifyReport): Verdicts => Object.fromEntries(r.results.map((x) => [x.condition, x.outcome]));

describe('kmslab verify on a lab, against raw etcd', () => {
  test('its verdict without etcd agrees with raw etcd in every state', async () => {
    const v1 = await KmsV1Plugin.start(join(dir, 'v1.sock'));
    try {
      await using lab = (await startLab({
        name: uniqueName('verify'),
        removeOnClose: true,
        apiserverArgs: ['--feature-gates=KMSv1=true'],
        // Another served version on demand (built on first use): KMSLAB_VERIFY_K8S=v1.34.4.
        ...(process.env.KMSLAB_VERIFY_K8S ? { k8sVersion: process.env.KMSLAB_VERIFY_K8S } : {}),
        // No entry for Secrets: the apiserver stores them through a transformer that records no metric at all.
        encryption: (): EncryptionRule[] => [{ resources: ['configmaps'], providers: [{ identity: {} }] }],
      })) as LocalLab;
      const api = lab.api;
      const apiserver = lab.apiservers[0]!;
      const etcd = { etcd: [lab.record.etcd] };
      const legacy = { kmsV1: { name: 'legacy', socket: v1.socketPath } };
      const kms = { kms: { name: lab.providerName, socket: lab.kmsSocket } };
      const secrets = (rules: EncryptionRule['providers']): EncryptionRule[] => [
        { resources: ['secrets'], providers: rules },
      ];
      const create = async (prefix: string, n: number) => {
        for (let i = 0; i < n; i++)
          await api.createSecret({ namespace: 'app', name: `${prefix}-${i}` }, { v: `${prefix}${i}` });
      };
      // Both answers for the same conditions: the live sources alone, and raw etcd alone.
      let live: VerifyReport;
      const compare = async (conditions: string[], state: string) => {
        const live = await verify({ api, conditions: parseConditions(conditions) });
        const truth = await verify({ etcd, conditions: parseConditions(conditions) });
        expect(verdicts(live), `${state}: verify without etcd`).toEqual(verdicts(truth));
        return { live, truth };
      };

      // Secrets no entry covers: plaintext. The object count is taken at start, then once a minute.
      await api.ensureNamespace('app');
      await create('plain', 3);
      await apiserver.restart();
      ({ live } = await compare(
        ['plaintext', 'not-prefix=k8s:enc:kms:v2:', 'provider!=kmslab'],
        'no encryption entry',
      ));
      expect(Object.values(verdicts(live))).toEqual(['fail', 'fail', 'fail']);

      // Then KMS v1 values, then KMS v2 put first with v1 and identity kept to read: before migration.
      await apiserver.setEncryption(secrets([legacy, { identity: {} }]), 'restart');
      await create('v1', 3);
      await apiserver.setEncryption(secrets([kms, legacy, { identity: {} }]), 'restart');
      await create('v2', 2);
      ({ live } = await compare(STORED, 'plaintext and KMS v1 left before migration'));
      expect(verdicts(live)).toEqual({
        plaintext: 'fail',
        'kms-v1': 'fail',
        'not-prefix=k8s:enc:kms:v2:': 'fail',
        'provider!=kmslab': 'fail',
      });

      // Everything rewritten, then a restart: every Secret on KMS v2; the metrics start over and re-read them all.
      for (const ref of await api.listSecrets('app')) await api.updateSecret(ref);
      await apiserver.restart();
      ({ live } = await compare(STORED, 'encrypted'));
      expect(Object.values(verdicts(live))).toEqual(['pass', 'pass', 'pass', 'pass']);
      const withCanary = await verify({ api, canary: true, conditions: parseConditions([...STORED, 'unhealthy']) });
      expect(withCanary.exitCode).toBe(0);
      expect(withCanary.evidence.canary).toMatchObject({ created: true, readBack: 'intact', cleanedUp: true });
      expect(withCanary.evidence.canary!.storedWith.map((s) => s.prefix)).toEqual([
        `k8s:enc:kms:v2:${lab.providerName}:`,
      ]);

      // The CLI on the same state, through the lab's kubeconfig: exit 0 within 10 s, with every report.
      const started = performance.now();
      const cli = await execa(
        'node',
        [
          'bin/kmslab.js',
          'verify',
          '--kubeconfig',
          lab.record.kubeconfig,
          '--canary',
          '--sarif',
          join(dir, 'v.sarif'),
          '--junit',
          join(dir, 'v.xml'),
          '--json',
          join(dir, 'v.json'),
        ],
        { reject: false, env: { KUBECONFIG: '' } },
      );
      const cliSeconds = (performance.now() - started) / 1000;
      expect(cli.exitCode, cli.stdout + cli.stderr).toBe(0);
      expect(cliSeconds).toBeLessThan(10);
      console.log(`kmslab verify --canary on a lab: ${cliSeconds.toFixed(2)} s`);
      expect(JSON.parse(readFileSync(join(dir, 'v.sarif'), 'utf8')).version).toBe('2.1.0');

      // A new key_id: new writes carry it, older Secrets stay on the old one until rewritten.
      const before = (await lab.kms.status()).keyId;
      const rotated = (await lab.kms.rotate()).keyId;
      await lab.clock.waitFor(
        async () => {
          await api.request('GET', '/healthz/kms-providers');
          const ref = { namespace: 'app', name: `probe-${Date.now()}` };
          await api.createSecret(ref, { v: 'x' });
          const stored = await lab.etcd.get(`/registry/secrets/app/${ref.name}`);
          return stored && classify(stored).kmsV2?.keyId === rotated ? true : undefined;
        },
        { timeoutMs: 150_000, intervalMs: 2_000, what: `the apiserver to write with key_id ${rotated}` },
      );
      ({ live } = await compare(
        [`not-key-id=${rotated}`, `key-id=${before}`, ...STORED],
        'a key_id rotation half migrated',
      ));
      expect(verdicts(live)[`not-key-id=${rotated}`]).toBe('fail');

      // identity listed first: new writes are plaintext, whatever the file says below it.
      const claimed = join(dir, 'claimed.yaml');
      writeFileSync(claimed, encryptionConfigYaml(secrets([kms, { identity: {} }])));
      await apiserver.setEncryption(secrets([{ identity: {} }, kms]), 'restart');
      await create('late', 1);
      ({ live } = await compare(STORED, 'identity listed first'));
      expect(verdicts(live).plaintext).toBe('fail');
      const config = lintEncryptionConfig(readFileSync(claimed, 'utf8'), { forLab: false });
      const canary = await verify({ api, canary: true, config, conditions: parseConditions(['plaintext', 'config']) });
      expect(
        canary.results.find((r) => r.condition === 'plaintext')!.decisions.find((d) => d.source === 'canary'),
      ).toMatchObject({ outcome: 'fail' });
      expect(canary.results.find((r) => r.condition === 'config')!.outcome).toBe('fail');
      // inspect --config says the same from raw etcd, naming the plaintext Secret.
      const inspect = await execa(
        'node',
        [
          'bin/kmslab.js',
          'inspect',
          '--etcd',
          lab.record.etcd,
          '--resource',
          'secrets',
          '--config',
          claimed,
          '--fail-on',
          'config',
        ],
        { reject: false },
      );
      expect(inspect.exitCode, inspect.stderr).toBe(1);
      expect(inspect.stdout).toMatch(/1 value\(s\) match --fail-on config:\n\s+\/registry\/secrets\/app\/late-0/);

      // The plugin down: what is stored is still told apart, and health is red.
      await lab.kms.stopPlugin();
      await lab.clock.waitFor(
        async () => ((await api.request('GET', '/healthz/kms-providers')).status !== 200 ? true : undefined),
        { timeoutMs: 60_000, intervalMs: 2_000, what: 'the KMS health check to fail' },
      );
      ({ live } = await compare(STORED, 'the KMS plugin down'));
      const health = await verify({ api, conditions: parseConditions(['unhealthy']) });
      expect(health.results[0]).toMatchObject({ outcome: 'fail', decidedBy: 'health' });
      await lab.kms.startPlugin();
    } finally {
      await v1.close();
    }
  });
});
