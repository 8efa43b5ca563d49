import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as grpcStatus } from '@grpc/grpc-js';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { alibabaPlugin, AlibabaEmulator, CloudControlClient, type AlibabaConnection } from '../cloud/index.js';
import { ManagedProcess } from '../harness/process/managed-process.js';
import { isolateHome } from './support/env.js';
import { kmsClient } from './support/kms-client.js';

isolateHome();

interface ProbeAnswer {
  ok: boolean;
  status?: number;
  code?: string;
  body?: Record<string, unknown>;
  error?: string;
  ms: number;
}

// The Alibaba Cloud KMS emulator against the vendor's own Go SDKs (alibaba-cloud-sdk-go, which ack-kms-plugin uses,
// and the newer kms-20160120) and against kmslab's alibaba-kms-plugin, all built from the Go module proxy.
describe('Alibaba Cloud KMS emulator with the real Go SDKs and alibaba-kms-plugin', () => {
  let dir: string;
  let emu: AlibabaEmulator;
  let c: AlibabaConnection;
  let control: CloudControlClient;
  let bin: { plugin: string; probe: string };
  const started: ManagedProcess[] = [];
  const cluster = () => ({ id: c.accessKeyId, secret: c.accessKeySecret });

  const probe = async (
    sdk: 'legacy' | 'tea',
    action: string,
    params: Record<string, string>,
    creds: { id: string; secret: string; token?: string },
    version = '2016-01-20',
  ): Promise<ProbeAnswer> => {
    const r = await execa(
      bin.probe,
      [
        '--sdk',
        sdk,
        '--endpoint',
        c.domain,
        '--region',
        c.region,
        '--action',
        action,
        '--version',
        version,
        ...Object.entries(params).flatMap(([k, v]) => ['--param', `${k}=${v}`]),
      ],
      {
        env: {
          SSL_CERT_FILE: c.caFile,
          ALIBABA_CLOUD_ACCESS_KEY_ID: creds.id,
          ALIBABA_CLOUD_ACCESS_KEY_SECRET: creds.secret,
          ALIBABA_CLOUD_SECURITY_TOKEN: creds.token ?? '',
        },
        extendEnv: false,
        reject: false,
      },
    );
    if (r.exitCode !== 0) throw new Error(`probe exited ${r.exitCode}: ${r.stderr}`);
    return JSON.parse(r.stdout) as ProbeAnswer;
  };

  const startPlugin = async (name: string, extraArgs: string[], env: Record<string, string> = {}) => {
    const socket = join(dir, `${name}.sock`);
    const p = await ManagedProcess.spawn({
      name,
      command: bin.plugin,
      args: ['serve', '--socket', socket, '--key-id', c.keyId, '--timeout', '1s', ...extraArgs],
      logFile: join(dir, `${name}.log`),
      env: { ...process.env, SSL_CERT_FILE: c.caFile, ACK_KMS_DOMAIN: c.domain, ACK_KMS_REGION_ID: c.region, ...env },
    });
    started.push(p);
    await p.waitUntil(async () => (await import('node:fs')).existsSync(socket) || undefined, {
      timeoutMs: 20_000,
      what: `${name} to serve`,
    });
    const client = kmsClient(socket);
    return { p, client };
  };

  const codeOf = async (p: Promise<unknown>) => {
    try {
      await p;
      return 'OK';
    } catch (e) {
      return grpcStatus[(e as { code: number }).code];
    }
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kmslab-cloud-int-'));
    bin = await alibabaPlugin();
    emu = await AlibabaEmulator.start({ stateDir: join(dir, 'cloud') });
    c = emu.connection;
    control = new CloudControlClient(c.controlSocket);
  }, 600_000);

  afterAll(async () => {
    await Promise.allSettled(started.map((p) => p.stop()));
    await emu?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('both SDKs encrypt and decrypt unchanged, and a wrong secret is refused with SignatureDoesNotMatch', async () => {
    for (const sdk of ['legacy', 'tea'] as const) {
      const enc = await probe(sdk, 'Encrypt', { KeyId: c.keyId, Plaintext: 'c2VjcmV0' }, cluster());
      expect(enc, sdk).toMatchObject({ ok: true, body: { KeyId: c.keyId, KeyVersionId: expect.any(String) } });
      const dec = await probe(sdk, 'Decrypt', { CiphertextBlob: enc.body!.CiphertextBlob as string }, cluster());
      expect(dec.body?.Plaintext, sdk).toBe('c2VjcmV0');
      const wrong = await probe(
        sdk,
        'Encrypt',
        { KeyId: c.keyId, Plaintext: 'eA==' },
        { ...cluster(), secret: 'wrong' },
      );
      expect([wrong.status, wrong.code], sdk).toEqual([400, 'SignatureDoesNotMatch']);
      const unknown = await probe(sdk, 'DescribeKey', { KeyId: c.keyId }, { id: 'LTAI0000000000000000', secret: 'x' });
      expect([unknown.status, unknown.code], sdk).toEqual([404, 'InvalidAccessKeyId.NotFound']);
    }
  });

  test('STS through the SDK: role credentials work with both SDKs, then expire with InvalidSecurityToken.Expired', async () => {
    const assumed = await probe(
      'legacy',
      'AssumeRole',
      { RoleArn: c.roleArn, RoleSessionName: 'sdk-test', DurationSeconds: '900' },
      cluster(),
      '2015-04-01',
    );
    const cr = assumed.body!.Credentials as { AccessKeyId: string; AccessKeySecret: string; SecurityToken: string };
    const role = { id: cr.AccessKeyId, secret: cr.AccessKeySecret, token: cr.SecurityToken };
    for (const sdk of ['legacy', 'tea'] as const)
      expect((await probe(sdk, 'Encrypt', { KeyId: c.keyId, Plaintext: 'eA==' }, role)).ok, sdk).toBe(true);
    const [event] = await control.audit<{ userIdentity: Record<string, string> }>({ action: 'Encrypt', limit: 1 });
    expect(event!.event.userIdentity).toMatchObject({
      type: 'assumed-role',
      userName: 'AliyunCSManagedSecurityRole:sdk-test',
      accessKeyId: role.id,
    });
    await control.expireCredentials({ accessKeyId: role.id });
    for (const sdk of ['legacy', 'tea'] as const) {
      const r = await probe(sdk, 'Encrypt', { KeyId: c.keyId, Plaintext: 'eA==' }, role);
      expect([r.status, r.code], sdk).toEqual([400, 'InvalidSecurityToken.Expired']);
    }
  });

  test('the plugin, as the cluster role through STS: key_id, version annotation, 2 KMS calls per Status, audit by the role', async () => {
    const cred = join(dir, 'cluster.json');
    writeFileSync(cred, JSON.stringify({ accessKeyId: c.accessKeyId, accessKeySecret: c.accessKeySecret }), {
      mode: 0o600,
    });
    const { client } = await startPlugin(
      'plugin-sts',
      ['--credentials-file', cred, '--role-arn', c.roleArn, '--sts-endpoint', c.stsEndpoint],
      {
        CREDENTIAL_INTERVAL: '1',
      },
    );
    const before = (await control.audit({})).at(-1)?.seq ?? 0;
    const status = await client.status();
    expect(status).toMatchObject({ version: 'v2', healthz: 'ok', keyId: c.keyId });
    const calls = await control.audit<{ userIdentity: { type: string; userName: string } }>({ afterSeq: before });
    expect(calls.map((e) => e.action)).toEqual(['Encrypt', 'Decrypt']);
    expect(
      calls.every(
        (e) => e.event.userIdentity.type === 'assumed-role' && e.principal === 'role:AliyunCSManagedSecurityRole',
      ),
    ).toBe(true);

    const seed = randomBytes(32);
    const w1 = await client.encrypt({ plaintext: seed, uid: randomUUID() });
    expect(w1.keyId).toBe(c.keyId);
    const v1 = Buffer.from(w1.annotations['x-acs-kms-key-version-id.ack.alibabacloud.com']!).toString();
    // A key-version rotation in KMS: key_id stays, the annotation moves, old DEK seeds still decrypt.
    const rotated = await control.rotate(c.keyId);
    const w2 = await client.encrypt({ plaintext: seed, uid: randomUUID() });
    expect((await client.status()).keyId).toBe(c.keyId);
    expect(w2.keyId).toBe(c.keyId);
    expect(Buffer.from(w2.annotations['x-acs-kms-key-version-id.ack.alibabacloud.com']!).toString()).toBe(
      rotated.versionId,
    );
    expect(rotated.versionId).not.toBe(v1);
    const back = await client.decrypt({
      ciphertext: w1.ciphertext,
      keyId: w1.keyId,
      uid: randomUUID(),
      annotations: w1.annotations,
    });
    expect(Buffer.from(back.plaintext).equals(seed)).toBe(true);

    // Revoking the role's grant fails the Status RPC (not healthz); granting again restores it.
    await control.revoke({ principal: 'role:AliyunCSManagedSecurityRole', key: c.keyId });
    expect(await codeOf(client.status())).toBe('PERMISSION_DENIED');
    await control.grant({
      principal: 'role:AliyunCSManagedSecurityRole',
      permissions: ['encrypt', 'decrypt', 'describe'],
      key: c.keyId,
    });
    expect((await client.status()).healthz).toBe('ok');

    // A disabled key: FAILED_PRECONDITION, then back.
    await control.disable(c.keyId);
    expect(
      await codeOf(client.decrypt({ ciphertext: w1.ciphertext, keyId: w1.keyId, uid: randomUUID(), annotations: {} })),
    ).toBe('FAILED_PRECONDITION');
    await control.enable(c.keyId);

    // Credentials expire while their refresh fails: calls fail with the expiry; once refresh works they recover.
    await control.addFault({ kind: 'error', action: 'AssumeRole', status: 503, code: 'ServiceUnavailable' });
    await control.expireCredentials({ role: 'AliyunCSManagedSecurityRole' });
    expect(await codeOf(client.status())).toBe('PERMISSION_DENIED');
    const refused = await control.audit({ errorCode: 'InvalidSecurityToken.Expired', limit: 1 });
    expect(refused[0]?.action).toBe('Encrypt');
    await new Promise((r) => setTimeout(r, 1500));
    expect(await codeOf(client.status())).toBe('PERMISSION_DENIED');
    await control.clearFaults();
    const t = Date.now();
    while ((await codeOf(client.status())) !== 'OK') {
      if (Date.now() - t > 10_000)
        throw new Error('the plugin did not recover within 10 s of its refresh working again');
      await new Promise((r) => setTimeout(r, 250));
    }
    client.close();
  });

  test('the plugin answers within the apiserver deadline when KMS hangs, is slow or unreachable', async () => {
    const { client } = await startPlugin('plugin-ak', [], {
      ACCESS_KEY_ID: c.accessKeyId,
      ACCESS_KEY_SECRET: c.accessKeySecret,
    });
    expect((await client.status()).healthz).toBe('ok');
    const timed = async (kind: 'hang' | 'latency' | 'unreachable' | 'throttle') => {
      await control.addFault(kind === 'latency' ? { kind, ms: 2500 } : { kind });
      const t = Date.now();
      const code = await codeOf(client.status());
      const ms = Date.now() - t;
      await control.clearFaults();
      return { code, ms };
    };
    for (const kind of ['hang', 'latency', 'unreachable', 'throttle'] as const) {
      const { code, ms } = await timed(kind);
      expect(code, kind).not.toBe('OK');
      expect(ms, kind).toBeLessThan(2_500);
    }
    expect((await timed('throttle')).code).toBe('RESOURCE_EXHAUSTED');
    expect((await client.status()).healthz).toBe('ok');
    client.close();
  });

  test('the plugin refuses to start without a region (it never asks instance metadata)', async () => {
    const r = await execa(bin.plugin, ['serve', '--socket', join(dir, 'x.sock'), '--key-id', c.keyId], {
      env: { PATH: process.env.PATH ?? '', ACCESS_KEY_ID: 'a', ACCESS_KEY_SECRET: 'b' },
      extendEnv: false,
      reject: false,
    });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('no region');
  });

  test('kmslab conformance: the plugin passes with --verify-key-id, and without it the key_id rule catches ACK-style Decrypt', async () => {
    const keyFile = join(dir, 'key-id');
    writeFileSync(keyFile, `${c.keyId}\n`, { mode: 0o600 });
    const env = `env SSL_CERT_FILE=${c.caFile} ACK_KMS_DOMAIN=${c.domain} ACK_KMS_REGION_ID=${c.region}`;
    const admin = `--credentials-file ${c.credentialsFiles.admin}`;
    const kmslab = `node ${join(process.cwd(), 'bin/kmslab.js')}`;
    const hooks = [
      '--rotate-cmd',
      `${env} ${bin.plugin} create-key --key-id-file ${keyFile} ${admin} && ${kmslab} cloud grant user:kmslab-cluster --permissions encrypt,decrypt,describe --key $(cat ${keyFile}) --control ${c.controlSocket} >/dev/null`,
      '--disable-cmd',
      `${env} ${bin.plugin} disable {keyId} ${admin}`,
      '--enable-cmd',
      `${env} ${bin.plugin} enable {keyId} ${admin}`,
    ];
    const run = (verify: boolean) =>
      execa(
        'node',
        [
          'bin/kmslab.js',
          'conformance',
          '--scenarios',
          'none',
          '--settle-seconds',
          '10',
          '--json',
          join(dir, `conformance-${verify}.json`),
          '--plugin-cmd',
          `${env} ${bin.plugin} serve --socket {socket} ${verify ? '--verify-key-id' : ''} --key-id-file ${keyFile} --credentials-file ${c.credentialsFiles.cluster}`,
          ...hooks,
        ],
        { reject: false, all: true },
      );
    const pass = await run(true);
    expect(pass.exitCode, pass.all).toBe(0);
    const fail = await run(false);
    expect(fail.exitCode).toBe(1);
    expect(fail.all).toMatch(/✗ \[required\] decrypt-unknown-key-id/);
  }, 300_000);
});
