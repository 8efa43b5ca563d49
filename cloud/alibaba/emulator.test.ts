import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlRequestError } from '../../fake-kms/control-client.js';
import { CloudControlClient } from '../control-client.js';
import { AlibabaEmulator, type AlibabaConnection } from './emulator.js';
import { rpcSignature, rpcStringToSign } from './signature.js';

interface Creds {
  id: string;
  secret: string;
  token?: string;
}
interface Answer {
  status: number;
  body: Record<string, unknown>;
}

// A client signing the way the RPC SDKs do (signature version 1.0); the Go SDKs themselves run in
// test/cloud-alibaba.int.test.ts.
function call(
  c: AlibabaConnection,
  action: string,
  params: Record<string, string>,
  creds: Creds,
  o: { version?: string; nonce?: string; timestamp?: string; secretForSigning?: string; agent?: Agent } = {},
): Promise<Answer> {
  const all: Record<string, string> = {
    ...params,
    Action: action,
    Version: o.version ?? '2016-01-20',
    Format: 'JSON',
    AccessKeyId: creds.id,
    SignatureMethod: 'HMAC-SHA1',
    SignatureVersion: '1.0',
    SignatureNonce: o.nonce ?? randomUUID(),
    Timestamp: o.timestamp ?? new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    ...(creds.token ? { SecurityToken: creds.token } : {}),
  };
  all.Signature = rpcSignature(rpcStringToSign('POST', all), o.secretForSigning ?? creds.secret);
  return raw(c, `/?${new URLSearchParams(all)}`, 'POST', o.agent ?? false);
}

async function raw(c: AlibabaConnection, path: string, method = 'POST', agent: Agent | false = false): Promise<Answer> {
  const ca = await readFile(c.caFile);
  return new Promise((resolve, reject) => {
    const req = request(`${c.endpoint}${path}`, { method, ca, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString()) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('Alibaba Cloud KMS emulator (over HTTPS, signed requests)', () => {
  let dir: string;
  let emu: AlibabaEmulator;
  let c: AlibabaConnection;
  let control: CloudControlClient;
  let cluster: Creds;
  let admin: Creds;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kmslab-ali-test-'));
    emu = await AlibabaEmulator.start({ stateDir: join(dir, 'state') });
    c = emu.connection;
    control = new CloudControlClient(c.controlSocket);
    cluster = { id: c.accessKeyId, secret: c.accessKeySecret };
    admin = { id: c.admin.accessKeyId, secret: c.admin.accessKeySecret };
  });
  afterAll(async () => {
    await emu?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('encrypts and decrypts for a granted user; the audit event names the caller and holds no data or secret', async () => {
    const enc = await call(c, 'Encrypt', { KeyId: c.keyId, Plaintext: 'aGVsbG8=' }, cluster);
    expect(enc.status).toBe(200);
    expect(enc.body).toMatchObject({ KeyId: c.keyId, KeyVersionId: expect.any(String), RequestId: expect.any(String) });
    const dec = await call(c, 'Decrypt', { CiphertextBlob: enc.body.CiphertextBlob as string }, cluster);
    expect(dec.body).toMatchObject({ Plaintext: 'aGVsbG8=', KeyId: c.keyId, KeyVersionId: enc.body.KeyVersionId });
    const [event] = await control.audit<Record<string, unknown>>({ action: 'Decrypt', limit: 1 });
    expect(event!.event).toMatchObject({
      eventName: 'Decrypt',
      eventType: 'ApiCall',
      serviceName: 'Kms',
      acsRegion: 'cn-hangzhou',
      requestId: dec.body.RequestId,
      sourceIpAddress: '127.0.0.1',
      userIdentity: { type: 'ram-user', userName: 'kmslab-cluster', accessKeyId: cluster.id, accountId: c.accountId },
      referencedResources: { 'ACS::KMS::Key': [c.keyId] },
    });
    const file = await readFile(c.auditFile!, 'utf8');
    for (const secret of ['aGVsbG8=', enc.body.CiphertextBlob as string, cluster.secret, admin.secret])
      expect(file).not.toContain(secret);
    expect((await stat(c.auditFile!)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'state'))).mode & 0o777).toBe(0o700);
  });

  it('refuses a wrong secret, an unknown key id, a replayed nonce and a skewed clock with the service codes', async () => {
    const args = { KeyId: c.keyId, Plaintext: 'eA==' };
    const wrong = await call(c, 'Encrypt', args, cluster, { secretForSigning: 'not-the-secret' });
    expect([wrong.status, wrong.body.Code]).toEqual([400, 'SignatureDoesNotMatch']);
    expect(wrong.body).toMatchObject({
      RequestId: expect.any(String),
      HostId: expect.any(String),
      Recommend: expect.any(String),
    });
    const unknown = await call(c, 'Encrypt', args, { id: 'LTAInotakey', secret: 'x' });
    expect([unknown.status, unknown.body.Code]).toEqual([404, 'InvalidAccessKeyId.NotFound']);
    const nonce = randomUUID();
    expect((await call(c, 'Encrypt', args, cluster, { nonce })).status).toBe(200);
    const replay = await call(c, 'Encrypt', args, cluster, { nonce });
    expect([replay.status, replay.body.Code]).toEqual([400, 'SignatureNonceUsed']);
    const old = new Date(Date.now() - 16 * 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const skewed = await call(c, 'Encrypt', args, cluster, { timestamp: old });
    expect([skewed.status, skewed.body.Code]).toEqual([400, 'InvalidTimeStamp.Expired']);
    const noAction = await call(c, 'NoSuchAction', {}, cluster);
    expect([noAction.status, noAction.body.Code]).toEqual([404, 'InvalidApi.NotFound']);
  });

  it('STS: a trusted user assumes the role; the session works with its token, is audited as assumed-role, and expires on demand', async () => {
    const assumed = await call(c, 'AssumeRole', { RoleArn: c.roleArn, RoleSessionName: 'plugin' }, cluster, {
      version: '2015-04-01',
    });
    expect(assumed.status).toBe(200);
    const cr = assumed.body.Credentials as {
      AccessKeyId: string;
      AccessKeySecret: string;
      SecurityToken: string;
      Expiration: string;
    };
    expect(cr.AccessKeyId).toMatch(/^STS\./);
    expect(Date.parse(cr.Expiration) - Date.now()).toBeGreaterThan(3500_000);
    const role = { id: cr.AccessKeyId, secret: cr.AccessKeySecret, token: cr.SecurityToken };
    expect((await call(c, 'Encrypt', { KeyId: c.keyId, Plaintext: 'eA==' }, role)).status).toBe(200);
    const [event] = await control.audit<Record<string, unknown>>({
      principal: `role:${'AliyunCSManagedSecurityRole'}`,
      limit: 1,
    });
    expect(event!.event).toMatchObject({
      userIdentity: {
        type: 'assumed-role',
        accessKeyId: role.id,
        userName: 'AliyunCSManagedSecurityRole:plugin',
        principalId: expect.stringMatching(/^\d+:plugin$/),
      },
    });
    const noToken = await call(
      c,
      'Encrypt',
      { KeyId: c.keyId, Plaintext: 'eA==' },
      { id: role.id, secret: role.secret },
    );
    expect(noToken.body.Code).toBe('MissingSecurityToken');
    expect(await control.expireCredentials({ role: 'AliyunCSManagedSecurityRole' })).toEqual({ expired: 1 });
    const expired = await call(c, 'Encrypt', { KeyId: c.keyId, Plaintext: 'eA==' }, role);
    expect([expired.status, expired.body.Code]).toEqual([400, 'InvalidSecurityToken.Expired']);
    // The admin is not trusted by the role; a made-up role does not exist.
    const untrusted = await call(c, 'AssumeRole', { RoleArn: c.roleArn, RoleSessionName: 'x1' }, admin, {
      version: '2015-04-01',
    });
    expect([untrusted.status, untrusted.body.Code]).toEqual([403, 'NoPermission']);
    const ghost = await call(c, 'AssumeRole', { RoleArn: c.roleArn + 'x', RoleSessionName: 'x1' }, cluster, {
      version: '2015-04-01',
    });
    expect(ghost.body.Code).toBe('EntityNotExist.Role');
    // The credentials URI serves a role session in the shape the SDKs read.
    const uri = await raw(c, new URL(c.credentialsUri).pathname, 'GET');
    expect(uri.body).toMatchObject({
      Code: 'Success',
      AccessKeyId: expect.stringMatching(/^STS\./),
      SecurityToken: expect.any(String),
    });
  });

  it('revoking a grant refuses with Forbidden.NoPermission; granting again restores', async () => {
    const args = { KeyId: c.keyId, Plaintext: 'eA==' };
    expect(await control.revoke({ principal: 'user:kmslab-cluster', permissions: ['encrypt'] })).toEqual({
      changed: 1,
    });
    const denied = await call(c, 'Encrypt', args, cluster);
    expect([denied.status, denied.body.Code]).toEqual([403, 'Forbidden.NoPermission']);
    expect((await control.audit({ errorCode: 'Forbidden.NoPermission', limit: 1 }))[0]).toMatchObject({
      principal: 'user:kmslab-cluster',
      keyId: c.keyId,
    });
    await control.grant({ principal: 'user:kmslab-cluster', permissions: ['encrypt'], key: c.keyId });
    expect((await call(c, 'Encrypt', args, cluster)).status).toBe(200);
    // The cluster may not manage the key.
    expect((await call(c, 'DisableKey', { KeyId: c.keyId }, cluster)).body.Code).toBe('Forbidden.NoPermission');
  });

  it('key states through the API: disabled, pending deletion, cancelled, destroyed; versions through rotation', async () => {
    const created = await call(c, 'CreateKey', { Description: 'test' }, admin);
    const keyId = (created.body.KeyMetadata as { KeyId: string }).KeyId;
    await control.grant({ principal: 'user:kmslab-cluster', permissions: ['encrypt', 'decrypt'], key: keyId });
    const enc = await call(c, 'Encrypt', { KeyId: keyId, Plaintext: 'eA==' }, cluster);
    expect((await call(c, 'DisableKey', { KeyId: keyId }, admin)).status).toBe(200);
    const disabled = await call(c, 'Decrypt', { CiphertextBlob: enc.body.CiphertextBlob as string }, cluster);
    expect([disabled.status, disabled.body.Code]).toEqual([409, 'Rejected.Disabled']);
    await call(c, 'EnableKey', { KeyId: keyId }, admin);
    const version = await call(c, 'CreateKeyVersion', { KeyId: keyId }, admin);
    const v2 = (version.body.KeyVersion as { KeyVersionId: string }).KeyVersionId;
    expect((await call(c, 'Encrypt', { KeyId: keyId, Plaintext: 'eA==' }, cluster)).body.KeyVersionId).toBe(v2);
    expect(
      (await call(c, 'Decrypt', { CiphertextBlob: enc.body.CiphertextBlob as string }, cluster)).body.KeyVersionId,
    ).toBe(enc.body.KeyVersionId);
    const versions = await call(c, 'ListKeyVersions', { KeyId: keyId }, admin);
    expect((versions.body.KeyVersions as { KeyVersion: unknown[] }).KeyVersion).toHaveLength(2);
    expect((await call(c, 'ScheduleKeyDeletion', { KeyId: keyId, PendingWindowInDays: '6' }, admin)).body.Code).toBe(
      'InvalidParameter',
    );
    expect((await call(c, 'ScheduleKeyDeletion', { KeyId: keyId, PendingWindowInDays: '7' }, admin)).status).toBe(200);
    const described = await call(c, 'DescribeKey', { KeyId: keyId }, admin);
    expect(described.body.KeyMetadata).toMatchObject({
      KeyState: 'PendingDeletion',
      DeleteDate: expect.any(String),
      PrimaryKeyVersion: v2,
    });
    const pending = await call(c, 'Encrypt', { KeyId: keyId, Plaintext: 'eA==' }, cluster);
    expect([pending.status, pending.body.Code]).toEqual([409, 'Rejected.PendingDeletion']);
    expect((await call(c, 'DisableKey', { KeyId: keyId }, admin)).body.Code).toBe('Rejected.StateModifiedFailed');
    await call(c, 'CancelKeyDeletion', { KeyId: keyId }, admin);
    expect(
      ((await call(c, 'DescribeKey', { KeyId: keyId }, admin)).body.KeyMetadata as { KeyState: string }).KeyState,
    ).toBe('Enabled');
    await control.scheduleDeletion(keyId, '1ms');
    await new Promise((r) => setTimeout(r, 5));
    const gone = await call(c, 'Decrypt', { CiphertextBlob: enc.body.CiphertextBlob as string }, cluster);
    expect([gone.status, gone.body.Code]).toEqual([404, 'Forbidden.KeyNotFound']);
  });

  it('faults: throttling, server errors, region outage, latency, hang, reset, TLS failure and unreachable', async () => {
    const args = { KeyId: c.keyId, Plaintext: 'eA==' };
    await control.addFault({ kind: 'throttle', action: 'Encrypt', count: 1 });
    const throttled = await call(c, 'Encrypt', args, cluster);
    expect([throttled.status, throttled.body.Code, throttled.body.Message]).toEqual([
      429,
      'Rejected.Throttling',
      'QPS Limit Exceeded',
    ]);
    await control.addFault({ kind: 'error', count: 1 });
    const e500 = await call(c, 'Encrypt', args, cluster);
    expect([e500.status, e500.body.Code]).toEqual([500, 'InternalFailure']);
    await control.addFault({ kind: 'region-outage', count: 1 });
    expect((await call(c, 'Decrypt', { CiphertextBlob: 'AA==' }, cluster)).status).toBe(503);
    expect((await call(c, 'Encrypt', args, cluster)).status).toBe(200);
    await control.addFault({ kind: 'latency', ms: 300, count: 1 });
    let t = Date.now();
    await call(c, 'Encrypt', args, cluster);
    expect(Date.now() - t).toBeGreaterThanOrEqual(290);
    const hang = await control.addFault({ kind: 'hang', action: 'Encrypt' });
    t = Date.now();
    const held = call(c, 'Encrypt', args, cluster);
    await new Promise((r) => setTimeout(r, 200));
    await control.clearFaults(hang.id);
    expect((await held).status).toBe(200);
    expect(Date.now() - t).toBeGreaterThanOrEqual(190);
    await control.addFault({ kind: 'reset', count: 1 });
    await expect(call(c, 'Encrypt', args, cluster)).rejects.toThrow(/ECONNRESET|socket hang up/);
    await control.addFault({ kind: 'tls-failure', count: 1 });
    await expect(call(c, 'Encrypt', args, cluster)).rejects.toThrow(/SSL|TLS|wrong version|packet length|ECONNRESET/i);
    await control.addFault({ kind: 'unreachable', count: 1 });
    await expect(call(c, 'Encrypt', args, cluster)).rejects.toThrow(/ECONNRESET|socket hang up/);
    expect((await call(c, 'Encrypt', args, cluster)).status).toBe(200);
    const faulted = await control.audit<{ additionalEventData?: { kmslabFaults: string[] } }>({
      errorCode: 'Rejected.Throttling',
    });
    expect(faulted.at(-1)!.event.additionalEventData?.kmslabFaults).toHaveLength(1);
  });

  it('an unreachable endpoint also ends the connections a client keeps alive, not only new ones', async () => {
    const agent = new Agent({ keepAlive: true, ca: await readFile(c.caFile) });
    const args = { KeyId: c.keyId, Plaintext: 'eA==' };
    try {
      expect((await call(c, 'Encrypt', args, cluster, { agent })).status).toBe(200);
      const f = await control.addFault({ kind: 'unreachable' });
      await expect(call(c, 'Encrypt', args, cluster, { agent })).rejects.toThrow(/ECONNRESET|socket hang up/);
      await control.clearFaults(f.id);
      expect((await call(c, 'Encrypt', args, cluster, { agent })).status).toBe(200);
    } finally {
      agent.destroy();
    }
  });

  it('the control API refuses bad input with a 400 naming the field, and changes nothing', async () => {
    const before = await control.grants();
    await expect(control.grant({ principal: 'nobody', permissions: ['encrypt'], key: '*' })).rejects.toThrow(
      ControlRequestError,
    );
    await expect(control.addFault({ kind: 'latency' } as never)).rejects.toThrow(/ms/);
    await expect(control.scheduleDeletion(c.keyId, 'soon')).rejects.toThrow(/not a duration/);
    await expect(control.disable('no-such-key')).rejects.toThrow(/no key/);
    expect(await control.grants()).toEqual(before);
  });

  it('a restart keeps keys, identities, sessions, the CA and the port', async () => {
    const enc = await call(c, 'Encrypt', { KeyId: c.keyId, Plaintext: 'a2VlcA==' }, cluster);
    const assumed = await call(c, 'AssumeRole', { RoleArn: c.roleArn, RoleSessionName: 'again' }, cluster, {
      version: '2015-04-01',
    });
    const cr = assumed.body.Credentials as { AccessKeyId: string; AccessKeySecret: string; SecurityToken: string };
    const caBefore = await readFile(c.caFile, 'utf8');
    await emu.close();
    emu = await AlibabaEmulator.start({ stateDir: join(dir, 'state') });
    expect(emu.connection.endpoint).toBe(c.endpoint);
    expect(await readFile(emu.connection.caFile, 'utf8')).toBe(caBefore);
    const role = { id: cr.AccessKeyId, secret: cr.AccessKeySecret, token: cr.SecurityToken };
    const dec = await call(emu.connection, 'Decrypt', { CiphertextBlob: enc.body.CiphertextBlob as string }, role);
    expect(dec.body.Plaintext).toBe('a2VlcA==');
  });
});
