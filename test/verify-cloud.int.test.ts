import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, test } from 'vitest';
import { alibabaPlugin, AlibabaEmulator, awsPlugin, AwsEmulator, CloudControlClient } from '../cloud/index.js';
import { ManagedProcess } from '../harness/process/managed-process.js';
import { readCloudAudit } from '../verify/index.js';
import { kmsClient } from './support/kms-client.js';

// kmslab verify --cloud-audit against the real exports of kmslab's cloud emulators: kmslab's own plugins answer a
// few Status calls (each a cloud Encrypt, plus a Decrypt for the ACK style), then the key is disabled and the next
// ones are refused. No etcd or kube-apiserver: the trail is what is judged.
const dir = mkdtempSync(join(tmpdir(), 'verify-cloud-'));
const started: ManagedProcess[] = [];
afterAll(async () => {
  await Promise.allSettled(started.map((p) => p.stop()));
  rmSync(dir, { recursive: true, force: true });
});

async function plugin(name: string, command: string, args: string[], env: Record<string, string>) {
  const socket = join(dir, `${name}.sock`);
  const p = await ManagedProcess.spawn({
    name,
    command,
    args: ['serve', '--socket', socket, '--timeout', '1s', ...args],
    logFile: join(dir, `${name}.log`),
    env: { PATH: process.env.PATH ?? '', ...env },
  });
  started.push(p);
  await p.waitUntil(async () => existsSync(socket) || undefined, { timeoutMs: 20_000, what: `${name} to serve` });
  return kmsClient(socket);
}

const statuses = async (client: ReturnType<typeof kmsClient>, n: number) => {
  for (let i = 0; i < n; i++) await client.status().catch(() => undefined);
};

// Four Status calls answered, and the trail as it stood then, kept under its own name.
async function healthyTrail(client: ReturnType<typeof kmsClient>, trail: string, name: string): Promise<string> {
  await statuses(client, 4);
  const copy = join(dir, name);
  copyFileSync(trail, copy);
  return copy;
}

// The CLI on an export: the verdict and what it printed.
const verifyCli = (file: string, key: string, identity: string) =>
  execa(
    'node',
    [
      'bin/kmslab.js',
      'verify',
      '--cloud-audit',
      file,
      '--expect-key',
      key,
      '--expect-identity',
      identity,
      '--fail-on',
      'denied-calls',
      '--fail-on',
      'unhealthy',
      '--json',
      `${file}.report.json`,
    ],
    { reject: false, env: { KUBECONFIG: '' } },
  );

describe('verify --cloud-audit on the emulators’ own exports', () => {
  test('ActionTrail (Alibaba Cloud, ack-kms-plugin style): Encrypt and Decrypt by the cluster user, then refusals', async () => {
    const bin = await alibabaPlugin();
    const emu = await AlibabaEmulator.start({ stateDir: join(dir, 'alibaba') });
    try {
      const c = emu.connection;
      const client = await plugin(
        'alibaba',
        bin.plugin,
        ['--key-id', c.keyId, '--credentials-file', c.credentialsFiles.cluster],
        {
          SSL_CERT_FILE: c.caFile,
          ACK_KMS_DOMAIN: c.domain,
          ACK_KMS_REGION_ID: c.region,
        },
      );
      const healthy = await healthyTrail(client, c.auditFile!, 'actiontrail-healthy.jsonl');
      const ok = await verifyCli(healthy, c.keyId, 'kmslab-cluster');
      expect(ok.exitCode, ok.stdout + ok.stderr).toBe(0);
      const audit = readCloudAudit(readFileSync(healthy));
      expect(audit.calls.filter((x) => x.action === 'Encrypt').length).toBe(4);
      expect(audit.calls.filter((x) => x.action === 'Decrypt').length).toBe(4);

      await new CloudControlClient(c.controlSocket).disable(c.keyId);
      await statuses(client, 2);
      const refused = await verifyCli(c.auditFile!, c.keyId, 'kmslab-cluster');
      expect(refused.exitCode).toBe(1);
      expect(refused.stdout).toMatch(/FAIL {2}denied-calls \(by cloud-audit\)/);
      const report = JSON.parse(readFileSync(`${c.auditFile}.report.json`, 'utf8'));
      expect(Object.keys(report.evidence.cloud.denied).length).toBeGreaterThan(0);

      // `kmslab cloud audit --json` prints the same events as a JSON array: read the same way.
      const printed = await execa('node', ['bin/kmslab.js', 'cloud', 'audit', '--json', '--control', c.controlSocket]);
      const fromCli = join(dir, 'actiontrail-cli.json');
      writeFileSync(fromCli, printed.stdout);
      expect(readCloudAudit(readFileSync(fromCli)).calls).toEqual(readCloudAudit(readFileSync(c.auditFile!)).calls);
    } finally {
      await Promise.allSettled(started.splice(0).map((p) => p.stop()));
      await emu.close();
    }
  });

  test('CloudTrail (AWS, kmslab aws-kms-plugin): Encrypt on the key ARN by the cluster user, then refusals', async () => {
    const bin = await awsPlugin();
    const emu = await AwsEmulator.start({ stateDir: join(dir, 'aws') });
    try {
      const c = emu.connection;
      const client = await plugin('aws', bin, ['--alias', c.alias, '--credentials-file', c.credentialsFiles.cluster], {
        SSL_CERT_FILE: c.caFile,
        AWS_CA_BUNDLE: c.caFile,
        AWS_REGION: c.region,
        AWS_ENDPOINT_URL_KMS: c.endpoint,
        AWS_ENDPOINT_URL_STS: c.endpoint,
      });
      const healthy = await healthyTrail(client, c.auditFile!, 'cloudtrail-healthy.jsonl');
      const audit = readCloudAudit(readFileSync(healthy));
      expect(audit.calls.filter((x) => x.action === 'Encrypt').length).toBeGreaterThanOrEqual(1);
      const ok = await verifyCli(healthy, c.keyId, 'kmslab-cluster');
      expect(ok.exitCode, ok.stdout + ok.stderr).toBe(0);

      await new CloudControlClient(c.controlSocket).disable(c.keyId);
      await statuses(client, 2);
      // As S3 delivers it: {"Records": [...]}, gzipped.
      const records = readFileSync(c.auditFile!, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as object);
      const delivered = join(dir, '111122223333_CloudTrail_us-east-1_20260302T1000Z_kmslab.json.gz');
      writeFileSync(delivered, (await import('node:zlib')).gzipSync(JSON.stringify({ Records: records })));
      const refused = await verifyCli(delivered, c.keyArn, 'kmslab-cluster');
      expect(refused.exitCode).toBe(1);
      expect(refused.stdout).toMatch(/FAIL {2}denied-calls/);
      expect(refused.stdout).toMatch(/DisabledException/);
    } finally {
      await Promise.allSettled(started.splice(0).map((p) => p.stop()));
      await emu.close();
    }
  });
});
