import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as grpcStatus } from '@grpc/grpc-js';
import { execa, execaSync } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { awsPlugin, AwsEmulator, CloudControlClient, type AwsConnection } from '../cloud/index.js';
import { ManagedProcess } from '../harness/process/managed-process.js';
import { isolateHome } from './support/env.js';
import { kmsClient } from './support/kms-client.js';

isolateHome();

interface SdkAnswer {
  ok: boolean;
  keyId?: string;
  arn?: string;
  keyState?: string;
  ciphertext?: string;
  plaintext?: string;
  code?: string;
  httpStatus?: number;
  message?: string;
}

// The AWS front with its key material in local-kms, against the AWS SDK for Go v2 (aws-kms-plugin's sdk-call probe)
// and against aws-kms-plugin serving KMS v2, all built from the Go module proxy.
describe('AWS KMS front (local-kms behind it) with the AWS SDK for Go v2 and aws-kms-plugin', () => {
  let dir: string;
  let emu: AwsEmulator;
  let c: AwsConnection;
  let control: CloudControlClient;
  let plugin: string;
  const started: ManagedProcess[] = [];

  // Only what the test gives: nothing from this machine's environment (it may set AWS_CA_BUNDLE, or real keys).
  const baseEnv = () => ({
    PATH: process.env.PATH ?? '',
    SSL_CERT_FILE: c.caFile,
    AWS_CA_BUNDLE: c.caFile,
    AWS_REGION: c.region,
    AWS_ENDPOINT_URL_KMS: c.endpoint,
    AWS_ENDPOINT_URL_STS: c.endpoint,
  });
  const clusterFile = () => ['--credentials-file', c.credentialsFiles.cluster];
  const adminFile = () => ['--credentials-file', c.credentialsFiles.admin];

  const sdk = async (args: string[], env: Record<string, string> = {}): Promise<SdkAnswer> => {
    const r = await execa(plugin, ['sdk-call', ...args], {
      env: { ...baseEnv(), ...env },
      extendEnv: false,
      reject: false,
    });
    if (r.exitCode !== 0) throw new Error(`sdk-call ${args.join(' ')} exited ${r.exitCode}: ${r.stderr}`);
    return JSON.parse(r.stdout) as SdkAnswer;
  };
  const hook = async (args: string[]) => {
    const r = await execa(plugin, [...args, ...adminFile()], { env: baseEnv(), extendEnv: false, reject: false });
    if (r.exitCode !== 0) throw new Error(`aws-kms-plugin ${args.join(' ')} exited ${r.exitCode}: ${r.stderr}`);
    return r.stdout.trim();
  };

  const startPlugin = async (name: string, args: string[], env: Record<string, string> = {}) => {
    const socket = join(dir, `${name}.sock`);
    const p = await ManagedProcess.spawn({
      name,
      command: plugin,
      args: ['serve', '--socket', socket, '--timeout', '1s', ...args],
      logFile: join(dir, `${name}.log`),
      env: { ...baseEnv(), ...env },
    });
    started.push(p);
    await p.waitUntil(async () => existsSync(socket) || undefined, { timeoutMs: 20_000, what: `${name} to serve` });
    return kmsClient(socket);
  };

  // conformance runs `kmslab conformance --scenarios none` on the plugin (serve args, rotate hook args), with the
  // disable and enable hooks, in an environment of the front's variables only; its report goes to <name>.json.
  const conformance = ([serveArgs, rotateArgs]: [string, string], name = 'conformance') => {
    const p = `env -i ${Object.entries(baseEnv())
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')} ${plugin}`;
    const admin = `--credentials-file ${c.credentialsFiles.admin}`;
    return execa(
      'node',
      [
        ...['bin/kmslab.js', 'conformance', '--scenarios', 'none', '--settle-seconds', '10'],
        ...['--json', join(dir, `${name}.json`), '--artifacts', join(dir, 'artifacts')],
        ...['--plugin-cmd', `${p} ${serveArgs}`, '--rotate-cmd', `${p} ${rotateArgs} ${admin}`],
        ...['--disable-cmd', `${p} disable {keyId} ${admin}`, '--enable-cmd', `${p} enable {keyId} ${admin}`],
      ],
      { reject: false, all: true },
    );
  };

  const codeOf = async (p: Promise<unknown>) => {
    try {
      await p;
      return 'OK';
    } catch (e) {
      return grpcStatus[(e as { code: number }).code] ?? 'UNKNOWN';
    }
  };
  const until = async (what: string, check: () => Promise<boolean>, ms = 10_000) => {
    const t = Date.now();
    while (!(await check())) {
      if (Date.now() - t > ms) throw new Error(`${what} did not happen within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 200));
    }
    return Date.now() - t;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kmslab-cloud-aws-'));
    plugin = await awsPlugin();
    emu = await AwsEmulator.start({ stateDir: join(dir, 'cloud') });
    c = emu.connection;
    control = new CloudControlClient(c.controlSocket);
  }, 600_000);

  afterAll(async () => {
    await Promise.allSettled(started.map((p) => p.stop()));
    await emu?.close();
    // Nothing the emulator started outlives it (local-kms included).
    expect(execaSync('pgrep', ['-f', `local-kms.*${dir}`], { reject: false }).stdout).toBe('');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('the SDK works unchanged: static keys, a wrong secret, an unknown key, a revoked grant, a disabled key', async () => {
    const enc = await sdk(['encrypt', '--key', c.alias, '--plaintext', 'hello', ...clusterFile()]);
    expect(enc).toMatchObject({ ok: true, keyId: c.keyArn });
    expect(await sdk(['decrypt', '--ciphertext', enc.ciphertext!, ...clusterFile()])).toMatchObject({
      ok: true,
      keyId: c.keyArn,
      plaintext: 'hello',
    });
    const fromEnv = { AWS_ACCESS_KEY_ID: c.accessKeyId, AWS_SECRET_ACCESS_KEY: c.secretAccessKey };
    expect(await sdk(['whoami'], fromEnv)).toMatchObject({
      ok: true,
      arn: `arn:aws:iam::${c.accountId}:user/kmslab-cluster`,
    });
    const wrong = { ...fromEnv, AWS_SECRET_ACCESS_KEY: 'not-the-secret' };
    expect(await sdk(['encrypt', '--key', c.keyId, '--plaintext', 'x'], wrong)).toMatchObject({
      ok: false,
      code: 'InvalidSignatureException',
      httpStatus: 400,
    });
    expect(await sdk(['whoami'], wrong)).toMatchObject({ ok: false, code: 'SignatureDoesNotMatch', httpStatus: 403 });
    expect(
      await sdk(['describe', '--key', c.keyId], { ...fromEnv, AWS_ACCESS_KEY_ID: 'AKIAAAAAAAAAAAAAAAAA' }),
    ).toMatchObject({
      ok: false,
      code: 'UnrecognizedClientException',
      httpStatus: 400,
    });

    await control.revoke({ principal: 'user:kmslab-cluster', permissions: ['decrypt'], key: c.keyId });
    const denied = await sdk(['decrypt', '--ciphertext', enc.ciphertext!, ...clusterFile()]);
    expect(denied).toMatchObject({ ok: false, code: 'AccessDeniedException', httpStatus: 400 });
    expect(denied.message).toBe(
      `User: arn:aws:iam::${c.accountId}:user/kmslab-cluster is not authorized to perform: kms:Decrypt on resource: ${c.keyArn} because no identity-based policy allows the kms:Decrypt action`,
    );
    await control.grant({ principal: 'user:kmslab-cluster', permissions: ['decrypt'], key: c.keyId });

    await hook(['disable', c.keyArn]);
    expect(await sdk(['encrypt', '--key', c.keyId, '--plaintext', 'x', ...clusterFile()])).toMatchObject({
      code: 'DisabledException',
      httpStatus: 409,
    });
    await hook(['enable', c.keyArn]);
    expect((await sdk(['decrypt', '--ciphertext', enc.ciphertext!, ...clusterFile()])).plaintext).toBe('hello');
  });

  test('temporary credentials through the SDK: AssumeRole, web identity (IRSA) and container credentials, audited as the role', async () => {
    const asRole = await sdk(['whoami', ...clusterFile(), '--role-arn', c.roleArn, '--role-session-name', 'sdk']);
    expect(asRole).toMatchObject({ ok: true, arn: `arn:aws:sts::${c.accountId}:assumed-role/kmslab-kms-plugin/sdk` });
    const irsa = await sdk(['encrypt', '--key', c.alias, '--plaintext', 'x'], c.envWebIdentity);
    expect(irsa).toMatchObject({ ok: true, keyId: c.keyArn });
    const [event] = await control.audit<{ userIdentity: Record<string, unknown> }>({ action: 'Encrypt', limit: 1 });
    expect(event!.principal).toBe('role:kmslab-kms-plugin');
    expect(event!.event.userIdentity).toMatchObject({
      type: 'AssumedRole',
      arn: `arn:aws:sts::${c.accountId}:assumed-role/kmslab-kms-plugin/kms-plugin`,
      sessionContext: { webIdFederationData: { federatedProvider: expect.stringContaining(':oidc-provider/') } },
    });
    const [assumed] = await control.audit<Record<string, unknown>>({ action: 'AssumeRoleWithWebIdentity', limit: 1 });
    expect(assumed!.event).toMatchObject({
      eventSource: 'sts.amazonaws.com',
      userIdentity: { type: 'WebIdentityUser', userName: 'system:serviceaccount:kube-system:aws-encryption-provider' },
      responseElements: { credentials: { accessKeyId: expect.stringMatching(/^ASIA/) } },
    });
    expect(await sdk(['encrypt', '--key', c.alias, '--plaintext', 'x'], c.envContainerCredentials)).toMatchObject({
      ok: true,
    });
    // The plugin never falls back to instance metadata or ~/.aws: no credentials on an HTTPS endpoint is a usage error.
    const none = await execa(plugin, ['sdk-call', 'whoami'], { env: baseEnv(), extendEnv: false, reject: false });
    expect(none.exitCode).toBe(2);
    expect(none.stderr).toContain('no credentials');
    const noRegion = await execa(plugin, ['sdk-call', 'whoami', ...clusterFile()], {
      env: { ...baseEnv(), AWS_REGION: '' },
      extendEnv: false,
      reject: false,
    });
    expect([noRegion.exitCode, noRegion.stderr.includes('no region')]).toEqual([2, true]);
  });

  test('the plugin as the role: credentials that end while their refresh fails, then recover; key_id stays the key ARN across RotateKeyOnDemand', async () => {
    await control.grant({
      principal: 'role:kmslab-kms-plugin',
      permissions: ['encrypt', 'decrypt', 'describe'],
      key: '*',
    });
    const client = await startPlugin('plugin-irsa', ['--alias', c.alias], c.envWebIdentity);
    expect(await client.status()).toEqual({ version: 'v2', healthz: 'ok', keyId: c.keyArn });
    const seed = randomBytes(32);
    const sealed = await client.encrypt({ plaintext: seed, uid: randomUUID() });
    expect(sealed.keyId).toBe(c.keyArn);

    // AWS rotation: new key material behind the same ARN; the apiserver sees no new key_id; old seeds still open.
    expect(await hook(['rotate-on-demand', c.keyArn])).toBe(c.keyArn);
    expect((await client.status()).keyId).toBe(c.keyArn);
    const after = await client.encrypt({ plaintext: seed, uid: randomUUID() });
    expect(after.keyId).toBe(c.keyArn);
    for (const s of [sealed, after]) {
      const opened = await client.decrypt({
        ciphertext: s.ciphertext,
        keyId: s.keyId,
        uid: randomUUID(),
        annotations: {},
      });
      expect(Buffer.from(opened.plaintext).equals(seed)).toBe(true);
    }
    const key = (await control.keys()).find((k) => k.keyId === c.keyId)!;
    expect(key.versions.length).toBeGreaterThanOrEqual(2);

    // The session ends while STS refuses to issue another: Status says so (healthz err, same key_id), Encrypt fails
    // UNAUTHENTICATED / UNAVAILABLE; once STS works again the plugin recovers by itself.
    await control.addFault({
      kind: 'error',
      action: 'AssumeRoleWithWebIdentity',
      status: 503,
      code: 'ServiceUnavailable',
    });
    await control.expireCredentials({ role: 'kmslab-kms-plugin' });
    const down = await client.status();
    expect(down.keyId).toBe(c.keyArn);
    expect(down.healthz).toMatch(/^err: .*Expired/);
    expect(['UNAUTHENTICATED', 'UNAVAILABLE']).toContain(
      await codeOf(client.encrypt({ plaintext: seed, uid: randomUUID() })),
    );
    expect((await client.status()).healthz).toMatch(/^err: .*ServiceUnavailable/);
    expect((await control.audit({ action: 'Encrypt', errorCode: 'ExpiredTokenException' })).length).toBeGreaterThan(0);
    await control.clearFaults();
    await until('the plugin to recover', async () => (await client.status()).healthz === 'ok');
    client.close();
  });

  test('the plugin and key states: revoked, disabled, scheduled for deletion (7 days), cancelled (Disabled), enabled', async () => {
    const client = await startPlugin('plugin-static', ['--alias', c.alias, ...clusterFile()]);
    const sealed = await client.encrypt({ plaintext: randomBytes(32), uid: randomUUID() });
    const open = () =>
      client.decrypt({ ciphertext: sealed.ciphertext, keyId: sealed.keyId, uid: randomUUID(), annotations: {} });
    await control.revoke({ principal: 'user:kmslab-cluster', key: c.keyId });
    expect(await codeOf(open())).toBe('PERMISSION_DENIED');
    expect((await client.status()).healthz).toMatch(/^err: .*AccessDeniedException/);
    await control.grant({
      principal: 'user:kmslab-cluster',
      permissions: ['encrypt', 'decrypt', 'describe'],
      key: c.keyId,
    });
    await hook(['disable', c.keyArn]);
    expect(await codeOf(open())).toBe('FAILED_PRECONDITION');
    expect(await client.status()).toMatchObject({
      keyId: c.keyArn,
      healthz: expect.stringMatching(/^err: key .* is Disabled/),
    });
    await hook(['destroy', c.keyArn]);
    expect(((await control.keys()).find((k) => k.keyId === c.keyId)!.deleteAt ?? 0) - Date.now()).toBeGreaterThan(
      6.9 * 86_400_000,
    );
    expect(await codeOf(open())).toBe('FAILED_PRECONDITION');
    const [refused] = await control.audit({ action: 'Decrypt', limit: 1 });
    expect(refused!.errorCode).toBe('KMSInvalidStateException');
    await hook(['cancel-deletion', c.keyArn]);
    expect((await control.keys()).find((k) => k.keyId === c.keyId)!.state).toBe('Disabled');
    await hook(['enable', c.keyArn]);
    expect(await codeOf(open())).toBe('OK');
    expect((await client.status()).healthz).toBe('ok');
    client.close();
  });

  test('aws-encryption-provider style: constant key_id, v2beta1, healthz "err" with the key ARN only after its health cache', async () => {
    const client = await startPlugin('plugin-aep', [
      '--style',
      'aws-encryption-provider',
      '--key-id',
      c.keyArn,
      '--health-cache',
      '2s',
      ...clusterFile(),
    ]);
    expect(await client.status()).toEqual({ version: 'v2beta1', healthz: 'ok', keyId: c.keyArn });
    const sealed = await client.encrypt({ plaintext: randomBytes(32), uid: randomUUID() });
    expect(sealed.ciphertext[0]).toBe('1'.charCodeAt(0));
    await hook(['disable', c.keyArn]);
    const t = Date.now();
    expect((await client.status()).healthz).toBe('ok'); // the cached check
    const waited = await until('Status to say err', async () => (await client.status()).healthz === 'err', 5_000);
    expect(Date.now() - t).toBeGreaterThan(1_000);
    expect(waited).toBeLessThan(4_000);
    expect((await client.status()).keyId).toBe(c.keyArn);
    await hook(['enable', c.keyArn]);
    // It ignores key_id in Decrypt, as aws-encryption-provider does.
    const opened = await client.decrypt({
      ciphertext: sealed.ciphertext,
      keyId: 'not-the-key',
      uid: randomUUID(),
      annotations: {},
    });
    expect(opened.plaintext.length).toBe(32);
    client.close();
  });

  test('faults: the plugin answers within the apiserver deadline (hang, latency, reset, TLS failure, unreachable, throttling, outage)', async () => {
    const client = await startPlugin('plugin-faults', ['--alias', c.alias, ...clusterFile()]);
    expect((await client.status()).healthz).toBe('ok');
    const seen: Record<string, { code: string; ms: number }> = {};
    for (const kind of [
      'hang',
      'latency',
      'reset',
      'tls-failure',
      'unreachable',
      'throttle',
      'region-outage',
      'error',
    ] as const) {
      const f = await control.addFault(kind === 'latency' ? { kind, ms: 2500 } : { kind });
      const t = Date.now();
      const code = await codeOf(client.encrypt({ plaintext: randomBytes(32), uid: randomUUID() }));
      seen[kind] = { code, ms: Date.now() - t };
      await control.clearFaults(f.id);
    }
    for (const [kind, { code, ms }] of Object.entries(seen)) {
      expect(code, kind).not.toBe('OK');
      expect(ms, kind).toBeLessThan(2_500);
    }
    expect(seen.throttle!.code).toBe('RESOURCE_EXHAUSTED');
    expect(seen['region-outage']!.code).toBe('UNAVAILABLE');
    expect(seen.error!.code).toBe('UNAVAILABLE');
    expect(seen.hang!.code).toBe('DEADLINE_EXCEEDED');
    console.log('fault → code, ms:', JSON.stringify(seen));
    expect((await client.status()).healthz).toBe('ok');
    client.close();
  });

  test('kmslab conformance --scenarios none: the plugin passes against the front with its hooks', async () => {
    // Keys made by the rotate hook must be usable by the cluster, as a key policy for the account would allow.
    await control.grant({
      principal: 'user:kmslab-cluster',
      permissions: ['encrypt', 'decrypt', 'describe'],
      key: '*',
    });
    const alias = 'alias/kmslab-conformance';
    await hook(['init', '--alias', alias]);
    const r = await conformance([
      `serve --socket {socket} --alias ${alias} --credentials-file ${c.credentialsFiles.cluster}`,
      `rotate --alias ${alias}`,
    ]);
    expect(r.exitCode, r.all).toBe(0);
    const report = JSON.parse(readFileSync(join(dir, 'conformance.json'), 'utf8')) as {
      checks: { outcome: string; phase: string; message?: string }[];
    };
    // The backend checks need the lab's cloud (--cloud aws: test/cloud-backend.int.test.ts); here they say so, once.
    const backend = report.checks.filter((x) => x.phase === 'backend');
    expect(backend.map((x) => [x.outcome, x.message])).toEqual(
      backend.map(() => ['skipped', 'needs a cloud KMS behind the plugin: --cloud alibaba|aws (local backend)']),
    );
    expect(report.checks.filter((x) => x.outcome !== 'passed' && x.phase !== 'backend')).toEqual([]);
  }, 300_000);

  test('aws-encryption-provider style under conformance: the key_id rule and the rotation rule catch it, as they catch the real one', async () => {
    const r = await conformance(
      [
        `serve --socket {socket} --style aws-encryption-provider --key-id ${c.keyArn} --health-cache 1s --credentials-file ${c.credentialsFiles.cluster}`,
        'rotate-on-demand {keyId}',
      ],
      'conformance-aep',
    );
    expect(r.exitCode, r.all).toBe(1);
    const report = JSON.parse(readFileSync(join(dir, 'conformance-aep.json'), 'utf8')) as {
      checks: { id: string; level: string; outcome: string }[];
    };
    const failed = report.checks.filter((x) => x.outcome === 'failed' && x.level === 'required').map((x) => x.id);
    // and a warning, as for the real one: v2beta1 is the pre-GA version name.
    expect(report.checks.find((x) => x.id === 'status-version-v2')?.outcome).toBe('failed');
    // Decrypt ignores key_id; an AWS rotation keeps the key ARN, so key_id never changes and the apiserver never re-seeds.
    expect(failed.sort()).toEqual(['decrypt-unknown-key-id', 'rotate-new-key-id']);
  }, 300_000);

  test('kmslab cloud serve aws and the cloud verbs drive it from the command line; its trail holds no secret', async () => {
    const state = join(dir, 'cli-state');
    const serve = execa(
      'node',
      ['bin/kmslab.js', 'cloud', 'serve', 'aws', '--crypto', 'core', '--state-dir', state, '--json'],
      {
        reject: false,
      },
    );
    try {
      const conn = await new Promise<AwsConnection>((resolve, reject) => {
        let out = '';
        serve.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          try {
            resolve(JSON.parse(out) as AwsConnection);
          } catch {
            // not all of it yet
          }
        });
        void serve.then((r) => reject(new Error(`serve ended: ${r.stderr}`)));
      });
      const cli = (...args: string[]) =>
        execa('node', ['bin/kmslab.js', 'cloud', ...args, '--control', conn.controlSocket], { reject: false });
      expect((await cli('disable')).exitCode).toBe(0);
      const caller = await execa(
        plugin,
        [
          'sdk-call',
          'encrypt',
          '--key',
          conn.alias,
          '--plaintext',
          'x',
          '--credentials-file',
          conn.credentialsFiles.cluster,
        ],
        {
          env: {
            PATH: process.env.PATH ?? '',
            AWS_CA_BUNDLE: conn.caFile,
            AWS_REGION: conn.region,
            AWS_ENDPOINT_URL_KMS: conn.endpoint,
          },
          extendEnv: false,
        },
      );
      expect(JSON.parse(caller.stdout)).toMatchObject({ code: 'DisabledException', httpStatus: 409 });
      const audit = await cli('audit', '--outcome', 'error');
      expect(audit.stdout).toMatch(/Encrypt\s+IAMUser user:kmslab-cluster\s+\S+\s+DisabledException/);
      expect((await cli('enable')).exitCode).toBe(0);
    } finally {
      serve.kill('SIGTERM');
      await serve;
    }
    // Both trails (this one and the main emulator's): never a secret, a session token or a web identity token.
    const secrets = [
      c.secretAccessKey,
      c.admin.secretAccessKey,
      c.containerAuthorizationToken,
      readFileSync(c.webIdentityTokenFile, 'utf8'),
    ];
    for (const file of [c.auditFile!, join(state, 'cloudtrail.jsonl')]) {
      const trail = readFileSync(file, 'utf8');
      expect(trail.length).toBeGreaterThan(0);
      for (const secret of secrets) expect(trail.includes(secret), file).toBe(false);
      expect(trail).not.toMatch(
        /"(secretAccessKey|sessionToken|SecretAccessKey|SessionToken|Plaintext|CiphertextBlob)"/,
      );
    }
  });
});
