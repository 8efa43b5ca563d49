import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { findBinary } from '../harness/binaries/index.js';
import { freePort } from '../harness/common/ports.js';
import { poll } from '../harness/common/wait.js';
import { EtcdRange, inspectEtcd, openEtcd, type EtcdTls } from '../harness/inspect/index.js';
import { EncryptedDEKSourceType, encodeKmsV2Value } from '../sim/index.js';
import { kmslab } from './support/cli.js';
import { testCa } from './support/test-ca.js';

// The inspector's raw Range path against an etcd that serves https only and requires a client certificate, as
// kubeadm's etcd does: the library and `kmslab inspect --cacert --cert --key` read it, and fail without a cert.
describe('inspect over TLS with a client certificate', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kmslab-inspect-tls-'));
  const file = (name: string) => join(dir, name);
  let etcd: ResultPromise | undefined;
  let url = '';
  let tls: EtcdTls;
  const values = 2_500;

  beforeAll(async () => {
    // A throwaway CA, an etcd serving cert for 127.0.0.1 and a client cert: testing only.
    const ca = testCa(dir);
    ca.issue('server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth');
    const client = ca.issue('client', 'extendedKeyUsage=clientAuth');
    tls = { caPem: ca.caPem, certPem: client.certPem, keyPem: client.keyPem };

    const [clientPort, peer] = [await freePort(), await freePort()];
    url = `https://127.0.0.1:${clientPort}`;
    etcd = execa(
      (await findBinary('etcd')).path,
      [
        `--data-dir=${file('data')}`,
        `--listen-client-urls=${url}`,
        `--advertise-client-urls=${url}`,
        `--listen-peer-urls=http://127.0.0.1:${peer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
        `--initial-cluster=default=http://127.0.0.1:${peer}`,
        `--cert-file=${file('server.crt')}`,
        `--key-file=${file('server.key')}`,
        `--trusted-ca-file=${file('ca.crt')}`,
        '--client-cert-auth=true',
        '--unsafe-no-fsync=true',
      ],
      { stdout: 'ignore', stderr: 'ignore' },
    );
    etcd.catch(() => undefined);

    const writer = openEtcd(url, tls, 5_000);
    try {
      await poll(
        () =>
          writer.get('probe').then(
            () => true,
            () => undefined,
          ),
        { timeoutMs: 60_000, what: 'etcd over TLS' },
      );
      const v2 = encodeKmsV2Value('tls-test', {
        encryptedData: Buffer.alloc(100, 1),
        keyID: 'key-1',
        encryptedDEKSource: Buffer.alloc(32, 2),
        annotations: {},
        encryptedDEKSourceType: EncryptedDEKSourceType.HKDF_SHA256_XNONCE_AES_GCM_SEED,
      });
      for (let i = 0; i < values; i += 100) {
        const puts = Array.from({ length: 100 }, (_, j) => ({
          request_put: { key: Buffer.from(`/registry/secrets/tls/s-${i + j}`), value: v2 },
        }));
        await writer.kv.txn({ success: puts });
      }
    } finally {
      writer.close();
    }
  });

  afterAll(async () => {
    etcd?.kill('SIGKILL');
    await etcd?.catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  test('the library reads every value through the raw Range path, in pages, at one revision', async () => {
    const report = await inspectEtcd({ etcd: url, tls, pageSize: 300 });
    expect(report.summary.total).toBe(values);
    expect(report.summary.byKeyId['tls-test']).toEqual({ 'key-1': values });
  });

  test('kmslab inspect --cacert --cert --key --summary reads it too', async () => {
    const r = await kmslab([
      'inspect',
      '--etcd',
      url,
      '--cacert',
      file('ca.crt'),
      '--cert',
      file('client.crt'),
      '--key',
      file('client.key'),
      '--summary',
      '--json',
    ]);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    // The certificate is verified against the IP without sending the IP as TLS server name (RFC 6066; Node DEP0123).
    expect(String(r.stderr)).not.toMatch(/Warning|DEP0123/);
    const out = JSON.parse(String(r.stdout)) as { summary: { total: number; byClass: Record<string, number> } };
    expect(out.summary.total).toBe(values);
    expect(out.summary.byClass).toEqual({ 'kms-v2': values });
  });

  test('without the client certificate etcd refuses the Range, and the error says so', async () => {
    const range = new EtcdRange(url, { caPem: tls.caPem }, 5_000);
    try {
      await expect(inspectEtcd({ etcd: range })).rejects.toThrow(/UNAVAILABLE|certificate|handshake|closed/i);
    } finally {
      range.close();
    }
  });

  test('a second URL that is down is skipped over: the scan fails over to the one that answers', async () => {
    const dead = `https://127.0.0.1:${await freePort()}`;
    const report = await inspectEtcd({ etcd: [dead, url], tls, timeoutMs: 5_000 });
    expect(report.summary.total).toBe(values);
  });

  test("as a gate over TLS with etcdctl's variables: a key_id other than the expected one exits 1 naming keys", async () => {
    const env = {
      ETCDCTL_ENDPOINTS: url,
      ETCDCTL_CACERT: file('ca.crt'),
      ETCDCTL_CERT: file('client.crt'),
      ETCDCTL_KEY: file('client.key'),
    };
    const pass = await kmslab(['inspect', '--fail-on', 'not-key-id=key-1'], { env });
    expect(pass.exitCode, String(pass.stderr)).toBe(0);
    const fail = await kmslab(['inspect', '--fail-on', 'not-key-id=key-2'], { env });
    expect(fail.exitCode).toBe(1);
    expect(String(fail.stdout) + String(fail.stderr)).toContain('/registry/secrets/tls/s-');
  });
});
