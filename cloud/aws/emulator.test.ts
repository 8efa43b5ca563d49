import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudControlClient } from '../control-client.js';
import { AwsEmulator, type AwsConnection } from './emulator.js';
import { signRequest } from './sigv4.js';

interface Creds {
  accessKeyId: string;
  secret: string;
  token?: string;
}
interface Answer {
  status: number;
  text: string;
  json: Record<string, unknown>;
}

// A client that signs as the AWS SDKs do (the Go SDK itself runs in test/cloud-aws.int.test.ts).
async function send(c: AwsConnection, method: string, path: string, headers: Record<string, string>, body: Buffer) {
  const ca = await readFile(c.caFile);
  return new Promise<Answer>((resolve, reject) => {
    const req = request(`${c.endpoint}${path}`, { method, ca, agent: false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: Record<string, unknown> = {};
        try {
          json = JSON.parse(text) as Record<string, unknown>;
        } catch {
          // XML (STS)
        }
        resolve({ status: res.statusCode!, text, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

interface SignOptions {
  now?: Date;
  region?: string;
  service?: string;
  /** Change the request after it was signed. */
  tamper?: (h: Record<string, string>, body: Buffer) => Buffer;
}

function kms(c: AwsConnection, op: string, input: Record<string, unknown>, creds: Creds | null, o: SignOptions = {}) {
  let body: Buffer = Buffer.from(JSON.stringify(input));
  let headers: Record<string, string> = {
    host: new URL(c.endpoint).host,
    'content-type': 'application/x-amz-json-1.1',
    'x-amz-target': `TrentService.${op}`,
  };
  if (creds)
    headers = signRequest(
      { method: 'POST', path: '/', headers, body },
      creds,
      { region: o.region ?? c.region, service: o.service ?? 'kms' },
      o.now,
    );
  if (o.tamper) body = o.tamper(headers, body);
  return send(c, 'POST', '/', headers, body);
}

function sts(c: AwsConnection, params: Record<string, string>, creds: Creds | null) {
  const body = Buffer.from(new URLSearchParams({ Version: '2011-06-15', ...params }).toString());
  let headers: Record<string, string> = {
    host: new URL(c.endpoint).host,
    'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
  };
  if (creds)
    headers = signRequest({ method: 'POST', path: '/', headers, body }, creds, { region: c.region, service: 'sts' });
  return send(c, 'POST', '/', headers, body);
}

const xml = (text: string, tag: string) => new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(text)?.[1];
const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('AWS KMS front (in process, key material in the core)', () => {
  let dir: string;
  let emu: AwsEmulator;
  let c: AwsConnection;
  let control: CloudControlClient;
  let cluster: Creds;
  let admin: Creds;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kmslab-aws-test-'));
    emu = await AwsEmulator.start({ stateDir: join(dir, 'state'), crypto: 'core', region: 'eu-west-1' });
    c = emu.connection;
    control = new CloudControlClient(c.controlSocket);
    cluster = { accessKeyId: c.accessKeyId, secret: c.secretAccessKey };
    admin = { accessKeyId: c.admin.accessKeyId, secret: c.admin.secretAccessKey };
  });
  afterAll(async () => {
    await emu?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('Encrypt and Decrypt by key id, ARN and alias; the ciphertext names its key, and the context must match', async () => {
    expect(c.keyArn).toBe(`arn:aws:kms:eu-west-1:${c.accountId}:key/${c.keyId}`);
    expect(c.accountId).toMatch(/^\d{12}$/);
    expect(c.accessKeyId).toMatch(/^AKIA[A-Z2-7]{16}$/);
    for (const KeyId of [c.keyId, c.keyArn, c.alias, `arn:aws:kms:eu-west-1:${c.accountId}:${c.alias}`]) {
      const enc = await kms(c, 'Encrypt', { KeyId, Plaintext: b64('seed'), EncryptionContext: { a: '1' } }, cluster);
      expect(enc.status, KeyId).toBe(200);
      expect(enc.json).toMatchObject({ KeyId: c.keyArn, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' });
      const dec = await kms(
        c,
        'Decrypt',
        { CiphertextBlob: enc.json.CiphertextBlob, EncryptionContext: { a: '1' } },
        cluster,
      );
      expect(dec.json).toMatchObject({ KeyId: c.keyArn, Plaintext: b64('seed') });
    }
    const enc = await kms(
      c,
      'Encrypt',
      { KeyId: c.alias, Plaintext: b64('x'), EncryptionContext: { a: '1' } },
      cluster,
    );
    const blob = enc.json.CiphertextBlob as string;
    expect(await kms(c, 'Decrypt', { CiphertextBlob: blob, EncryptionContext: { a: '2' } }, cluster)).toMatchObject({
      status: 400,
      json: { __type: 'InvalidCiphertextException' },
    });
    const altered = Buffer.from(blob, 'base64');
    altered[altered.length - 1]! ^= 1;
    expect(
      (await kms(c, 'Decrypt', { CiphertextBlob: altered.toString('base64'), EncryptionContext: { a: '1' } }, cluster))
        .json.__type,
    ).toBe('InvalidCiphertextException');
    const other = (await kms(c, 'CreateKey', {}, admin)).json.KeyMetadata as { KeyId: string };
    expect(
      await kms(c, 'Decrypt', { CiphertextBlob: blob, KeyId: other.KeyId, EncryptionContext: { a: '1' } }, admin),
    ).toMatchObject({
      status: 400,
      json: { __type: 'IncorrectKeyException' },
    });
    expect(await kms(c, 'Encrypt', { KeyId: 'alias/nope', Plaintext: b64('x') }, cluster)).toMatchObject({
      status: 404,
      json: { __type: 'NotFoundException' },
    });
    expect(await kms(c, 'Encrypt', { KeyId: c.keyId, Plaintext: b64('x'.repeat(4097)) }, cluster)).toMatchObject({
      status: 400,
      json: { __type: 'ValidationException', message: expect.not.stringContaining('xxxx') },
    });
    expect(await kms(c, 'Frobnicate', {}, cluster)).toMatchObject({
      status: 400,
      json: { __type: 'UnknownOperationException' },
    });
  });

  it('checks SigV4 as AWS does: missing, malformed, unknown key, wrong secret, altered request, clock skew, scope', async () => {
    const enc = { KeyId: c.keyId, Plaintext: b64('x') };
    const code = async (p: Promise<Answer>) => {
      const a = await p;
      return `${a.status} ${String(a.json.__type)}`;
    };
    expect(await code(kms(c, 'Encrypt', enc, null))).toBe('400 MissingAuthenticationTokenException');
    expect(await code(kms(c, 'Encrypt', enc, { ...cluster, accessKeyId: 'AKIAUNKNOWNUNKNOWN00' }))).toBe(
      '400 UnrecognizedClientException',
    );
    expect(await code(kms(c, 'Encrypt', enc, { ...cluster, secret: 'wrong' }))).toBe('400 InvalidSignatureException');
    const tamperBody = (_h: Record<string, string>, body: Buffer) =>
      Buffer.from(body.toString().replace(b64('xx'), b64('xy')));
    expect(await code(kms(c, 'Encrypt', { ...enc, Plaintext: b64('xx') }, cluster, { tamper: tamperBody }))).toBe(
      '400 InvalidSignatureException',
    );
    const tamperTarget = (h: Record<string, string>, body: Buffer) => {
      h['x-amz-target'] = 'TrentService.Decrypt';
      return body;
    };
    expect(await code(kms(c, 'Encrypt', enc, cluster, { tamper: tamperTarget }))).toBe('400 InvalidSignatureException');
    const late = await kms(c, 'Encrypt', enc, cluster, { now: new Date(Date.now() - 6 * 60_000) });
    expect(late).toMatchObject({ status: 400, json: { __type: 'InvalidSignatureException' } });
    expect(late.json.message).toMatch(
      /^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z \(\d{8}T\d{6}Z - 5 min\.\)$/,
    );
    expect(await code(kms(c, 'Encrypt', enc, cluster, { now: new Date(Date.now() - 4 * 60_000) }))).toBe(
      '200 undefined',
    );
    const early = await kms(c, 'Encrypt', enc, cluster, { now: new Date(Date.now() + 6 * 60_000) });
    expect(early.json.message).toMatch(/^Signature not yet current: .* \+ 5 min\.\)$/);
    expect(await code(kms(c, 'Encrypt', enc, cluster, { region: 'us-east-1' }))).toBe('400 InvalidSignatureException');
    expect(await code(kms(c, 'Encrypt', enc, cluster, { service: 'sts' }))).toBe('400 InvalidSignatureException');
    const noSig = (h: Record<string, string>, body: Buffer) => {
      h.authorization = h.authorization!.replace(/, Signature=.*/, '');
      return body;
    };
    expect(await code(kms(c, 'Encrypt', enc, cluster, { tamper: noSig }))).toBe('400 IncompleteSignatureException');
    // Every refused call is in the trail, with the key id it claimed and no identity it could not prove.
    const refused = await control.audit<{ userIdentity: { type: string; accessKeyId?: string } }>({
      errorCode: 'UnrecognizedClientException',
    });
    expect(refused.at(-1)!.event.userIdentity).toEqual({ type: 'Unknown', accessKeyId: 'AKIAUNKNOWNUNKNOWN00' });
  });

  it('STS: AssumeRole and AssumeRoleWithWebIdentity give sessions of the role; expired sessions get ExpiredTokenException', async () => {
    const assumed = await sts(c, { Action: 'AssumeRole', RoleArn: c.roleArn, RoleSessionName: 'plugin' }, cluster);
    expect(assumed.status).toBe(200);
    expect(xml(assumed.text, 'Arn')).toBe(`arn:aws:sts::${c.accountId}:assumed-role/kmslab-kms-plugin/plugin`);
    const session: Creds = {
      accessKeyId: xml(assumed.text, 'AccessKeyId')!,
      secret: xml(assumed.text, 'SecretAccessKey')!,
      token: xml(assumed.text, 'SessionToken')!,
    };
    expect(session.accessKeyId).toMatch(/^ASIA/);
    expect((await kms(c, 'Encrypt', { KeyId: c.keyId, Plaintext: b64('x') }, session)).status).toBe(200);
    const who = await sts(c, { Action: 'GetCallerIdentity' }, session);
    expect(xml(who.text, 'Arn')).toBe(`arn:aws:sts::${c.accountId}:assumed-role/kmslab-kms-plugin/plugin`);
    expect(
      (await kms(c, 'Encrypt', { KeyId: c.keyId, Plaintext: b64('x') }, { ...session, token: 'other' })).json.__type,
    ).toBe('UnrecognizedClientException');
    // The admin is not trusted by the role: AccessDenied naming both; an unknown role says the same.
    for (const RoleArn of [c.roleArn, `arn:aws:iam::${c.accountId}:role/nope`]) {
      const denied = await sts(c, { Action: 'AssumeRole', RoleArn, RoleSessionName: 'x1' }, admin);
      expect(denied.status).toBe(403);
      expect(xml(denied.text, 'Code')).toBe('AccessDenied');
      expect(xml(denied.text, 'Message')).toContain(
        `User: arn:aws:iam::${c.accountId}:user/kmslab-admin is not authorized to perform: sts:AssumeRole`,
      );
    }
    const wrong = await sts(c, { Action: 'GetCallerIdentity' }, { ...cluster, secret: 'nope' });
    expect([wrong.status, xml(wrong.text, 'Code')]).toEqual([403, 'SignatureDoesNotMatch']);

    const token = await readFile(c.webIdentityTokenFile, 'utf8');
    const web = await sts(
      c,
      { Action: 'AssumeRoleWithWebIdentity', RoleArn: c.roleArn, RoleSessionName: 'irsa', WebIdentityToken: token },
      null,
    );
    expect(web.status).toBe(200);
    expect(xml(web.text, 'SubjectFromWebIdentityToken')).toBe(
      'system:serviceaccount:kube-system:aws-encryption-provider',
    );
    const forged = token.slice(0, -4) + (token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    const bad = await sts(
      c,
      { Action: 'AssumeRoleWithWebIdentity', RoleArn: c.roleArn, RoleSessionName: 'irsa', WebIdentityToken: forged },
      null,
    );
    expect([bad.status, xml(bad.text, 'Code')]).toEqual([400, 'InvalidIdentityToken']);
    const old = emu.webIdentityToken(-1);
    const stale = await sts(
      c,
      { Action: 'AssumeRoleWithWebIdentity', RoleArn: c.roleArn, RoleSessionName: 'irsa', WebIdentityToken: old },
      null,
    );
    expect(xml(stale.text, 'Code')).toBe('ExpiredTokenException');

    expect(await control.expireCredentials({ role: 'kmslab-kms-plugin' })).toEqual({ expired: 2 });
    expect(await kms(c, 'Encrypt', { KeyId: c.keyId, Plaintext: b64('x') }, session)).toMatchObject({
      status: 400,
      json: { __type: 'ExpiredTokenException', message: 'The security token included in the request is expired' },
    });
    const expiredSts = await sts(c, { Action: 'GetCallerIdentity' }, session);
    expect(xml(expiredSts.text, 'Code')).toBe('ExpiredToken');
  });

  it('serves container credentials to the holder of the token only', async () => {
    const uri = new URL(c.containerCredentialsUri);
    const ok = await send(c, 'GET', uri.pathname, { authorization: c.containerAuthorizationToken }, Buffer.alloc(0));
    expect(ok.json).toMatchObject({
      AccessKeyId: expect.stringMatching(/^ASIA/),
      Token: expect.any(String),
      Expiration: expect.any(String),
    });
    const creds = {
      accessKeyId: ok.json.AccessKeyId as string,
      secret: ok.json.SecretAccessKey as string,
      token: ok.json.Token as string,
    };
    expect((await kms(c, 'Encrypt', { KeyId: c.keyId, Plaintext: b64('x') }, creds)).status).toBe(200);
    expect((await send(c, 'GET', uri.pathname, { authorization: 'wrong' }, Buffer.alloc(0))).status).toBe(403);
  });

  it('grants decide per identity and key: a revoked user gets AccessDeniedException naming it; the trail says AccessDenied', async () => {
    await control.revoke({ principal: 'user:kmslab-cluster', permissions: ['encrypt'] });
    const denied = await kms(c, 'Encrypt', { KeyId: c.alias, Plaintext: b64('x') }, cluster);
    expect(denied).toMatchObject({ status: 400, json: { __type: 'AccessDeniedException' } });
    expect(denied.json.message).toBe(
      `User: arn:aws:iam::${c.accountId}:user/kmslab-cluster is not authorized to perform: kms:Encrypt on resource: ${c.keyArn} because no identity-based policy allows the kms:Encrypt action`,
    );
    const event = (await control.audit<Record<string, unknown>>({ action: 'Encrypt', limit: 1 }))[0]!;
    expect(event).toMatchObject({ errorCode: 'AccessDenied', principal: 'user:kmslab-cluster', keyId: c.keyId });
    expect(event.event).toMatchObject({
      errorCode: 'AccessDenied',
      userIdentity: { type: 'IAMUser', userName: 'kmslab-cluster' },
    });
    await control.grant({ principal: 'user:kmslab-cluster', permissions: ['encrypt'], key: c.keyId });
    expect((await kms(c, 'Encrypt', { KeyId: c.alias, Plaintext: b64('x') }, cluster)).status).toBe(200);
    expect((await kms(c, 'DisableKey', { KeyId: c.keyId }, cluster)).json.__type).toBe('AccessDeniedException');
  });

  it('key states as AWS has them: Disabled, PendingDeletion (7–30 days) and a cancel that leaves the key Disabled', async () => {
    const key = (await kms(c, 'CreateKey', { Description: 'states' }, admin)).json.KeyMetadata as {
      KeyId: string;
      Arn: string;
    };
    const blob = (await kms(c, 'Encrypt', { KeyId: key.KeyId, Plaintext: b64('x') }, admin)).json.CiphertextBlob;
    await kms(c, 'DisableKey', { KeyId: key.KeyId }, admin);
    for (const [op, input] of [
      ['Encrypt', { KeyId: key.KeyId, Plaintext: b64('x') }],
      ['Decrypt', { CiphertextBlob: blob }],
    ] as const)
      expect(await kms(c, op, input, admin)).toMatchObject({
        status: 409,
        json: { __type: 'DisabledException', message: `${key.Arn} is disabled.` },
      });
    for (const days of [6, 31])
      expect(
        (await kms(c, 'ScheduleKeyDeletion', { KeyId: key.KeyId, PendingWindowInDays: days }, admin)).json.__type,
      ).toBe('ValidationException');
    const scheduled = await kms(c, 'ScheduleKeyDeletion', { KeyId: key.KeyId, PendingWindowInDays: 7 }, admin);
    expect(scheduled.json).toMatchObject({ KeyState: 'PendingDeletion', PendingWindowInDays: 7, KeyId: key.Arn });
    expect(Number(scheduled.json.DeletionDate) * 1000 - Date.now()).toBeGreaterThan(6.9 * 86_400_000);
    expect(await kms(c, 'Decrypt', { CiphertextBlob: blob }, admin)).toMatchObject({
      status: 409,
      json: { __type: 'KMSInvalidStateException', message: `${key.Arn} is pending deletion.` },
    });
    expect((await kms(c, 'EnableKey', { KeyId: key.KeyId }, admin)).json.__type).toBe('KMSInvalidStateException');
    expect((await kms(c, 'CancelKeyDeletion', { KeyId: key.KeyId }, admin)).json).toEqual({ KeyId: key.Arn });
    expect(
      ((await kms(c, 'DescribeKey', { KeyId: key.KeyId }, admin)).json.KeyMetadata as { KeyState: string }).KeyState,
    ).toBe('Disabled');
    await kms(c, 'EnableKey', { KeyId: key.KeyId }, admin);
    expect((await kms(c, 'Decrypt', { CiphertextBlob: blob }, admin)).json.Plaintext).toBe(b64('x'));
    // The control API may shorten the window (tests): when it ends, the key and what it encrypted are gone, and so
    // are the aliases that refer to it (ScheduleKeyDeletion's API reference): the name is free again.
    await kms(c, 'CreateAlias', { AliasName: 'alias/doomed', TargetKeyId: key.KeyId }, admin);
    await control.scheduleDeletion(key.KeyId, '1ms');
    await new Promise((r) => setTimeout(r, 5));
    expect(await kms(c, 'Encrypt', { KeyId: 'alias/doomed', Plaintext: b64('x') }, admin)).toMatchObject({
      status: 404,
      json: {
        __type: 'NotFoundException',
        message: expect.stringMatching(/^Alias arn:aws:kms:.*:alias\/doomed is not found\.$/),
      },
    });
    const aliases = (await kms(c, 'ListAliases', {}, admin)).json.Aliases as { AliasName: string }[];
    expect(aliases.map((a) => a.AliasName)).not.toContain('alias/doomed');
    const other = (await kms(c, 'CreateKey', {}, admin)).json.KeyMetadata as { KeyId: string };
    expect((await kms(c, 'CreateAlias', { AliasName: 'alias/doomed', TargetKeyId: other.KeyId }, admin)).status).toBe(
      200,
    );
    expect(await kms(c, 'Decrypt', { CiphertextBlob: blob }, admin)).toMatchObject({
      status: 400,
      json: {
        __type: 'AccessDeniedException',
        message: expect.stringContaining('refers to a customer master key that does not exist'),
      },
    });
    expect((await kms(c, 'DescribeKey', { KeyId: key.KeyId }, admin)).status).toBe(404);
  });

  it('RotateKeyOnDemand keeps the ARN; old ciphertexts decrypt with the backing key they name; 25 rotations at most', async () => {
    const key = (await kms(c, 'CreateKey', {}, admin)).json.KeyMetadata as { KeyId: string; Arn: string };
    const before = (await kms(c, 'Encrypt', { KeyId: key.KeyId, Plaintext: b64('old') }, admin)).json.CiphertextBlob;
    expect((await kms(c, 'RotateKeyOnDemand', { KeyId: key.KeyId }, admin)).json).toEqual({ KeyId: key.Arn });
    const after = await kms(c, 'Encrypt', { KeyId: key.KeyId, Plaintext: b64('new') }, admin);
    expect(after.json.KeyId).toBe(key.Arn);
    expect(after.json.CiphertextBlob).not.toBe(before);
    expect((await kms(c, 'Decrypt', { CiphertextBlob: before }, admin)).json).toMatchObject({
      KeyId: key.Arn,
      Plaintext: b64('old'),
    });
    expect(((await kms(c, 'ListKeyRotations', { KeyId: key.KeyId }, admin)).json.Rotations as unknown[]).length).toBe(
      1,
    );
    const keyView = (await control.keys()).find((k) => k.keyId === key.KeyId)!;
    expect(keyView.versions).toHaveLength(2);
    for (let i = 0; i < 24; i++) await kms(c, 'RotateKeyOnDemand', { KeyId: key.KeyId }, admin);
    expect((await kms(c, 'RotateKeyOnDemand', { KeyId: key.KeyId }, admin)).json.__type).toBe('LimitExceededException');
    expect((await kms(c, 'Decrypt', { CiphertextBlob: before }, admin)).json.Plaintext).toBe(b64('old'));
  });

  it("faults answer in the service's words: throttling, 5xx, region outage (KMS and STS)", async () => {
    const enc = { KeyId: c.keyId, Plaintext: b64('x') };
    await control.addFault({ kind: 'throttle', action: 'Encrypt', count: 1 });
    expect(await kms(c, 'Encrypt', enc, cluster)).toMatchObject({
      status: 400,
      json: { __type: 'ThrottlingException' },
    });
    await control.addFault({ kind: 'error', count: 1 });
    expect(await kms(c, 'Encrypt', enc, cluster)).toMatchObject({
      status: 500,
      json: { __type: 'KMSInternalException' },
    });
    const outage = await control.addFault({ kind: 'region-outage' });
    expect(await kms(c, 'Encrypt', enc, cluster)).toMatchObject({
      status: 503,
      json: { __type: 'ServiceUnavailable' },
    });
    const stsDown = await sts(c, { Action: 'GetCallerIdentity' }, cluster);
    expect([stsDown.status, xml(stsDown.text, 'Code')]).toEqual([503, 'ServiceUnavailable']);
    await control.clearFaults(outage.id);
    const faulted = (
      await control.audit<{ additionalEventData?: unknown }>({ action: 'Encrypt', errorCode: 'ServiceUnavailable' })
    ).at(-1)!;
    expect(faulted.event.additionalEventData).toEqual({ kmslabFaults: [outage.id] });
    const after = await kms(c, 'Encrypt', enc, cluster);
    expect(after.status, after.text).toBe(200);
  });

  it('CloudTrail events: the documented fields, the caller, the key; never plaintext, ciphertext, secrets or tokens', async () => {
    const assumed = await sts(c, { Action: 'AssumeRole', RoleArn: c.roleArn, RoleSessionName: 'trail' }, cluster);
    const session = {
      accessKeyId: xml(assumed.text, 'AccessKeyId')!,
      secret: xml(assumed.text, 'SecretAccessKey')!,
      token: xml(assumed.text, 'SessionToken')!,
    };
    const plaintext = b64('a secret seed that must never be logged');
    const enc = await kms(
      c,
      'Encrypt',
      { KeyId: c.alias, Plaintext: plaintext, EncryptionContext: { cluster: 'c1' } },
      session,
    );
    const blob = enc.json.CiphertextBlob as string;
    await kms(c, 'Decrypt', { CiphertextBlob: blob, EncryptionContext: { cluster: 'c1' } }, session);
    const [e, d] = (await control.audit<Record<string, unknown>>({ principal: 'role:kmslab-kms-plugin' }))
      .slice(-2)
      .map((x) => x.event);
    expect(e).toMatchObject({
      eventVersion: '1.11',
      eventSource: 'kms.amazonaws.com',
      eventName: 'Encrypt',
      awsRegion: 'eu-west-1',
      sourceIPAddress: '127.0.0.1',
      eventType: 'AwsApiCall',
      managementEvent: true,
      readOnly: true,
      eventCategory: 'Management',
      recipientAccountId: c.accountId,
      requestParameters: {
        keyId: c.alias,
        encryptionAlgorithm: 'SYMMETRIC_DEFAULT',
        encryptionContext: { cluster: 'c1' },
      },
      responseElements: null,
      resources: [{ accountId: c.accountId, type: 'AWS::KMS::Key', ARN: c.keyArn }],
      requestID: expect.any(String),
      eventID: expect.any(String),
      userIdentity: {
        type: 'AssumedRole',
        arn: `arn:aws:sts::${c.accountId}:assumed-role/kmslab-kms-plugin/trail`,
        accountId: c.accountId,
        accessKeyId: session.accessKeyId,
        principalId: expect.stringMatching(/^AROA[A-Z2-7]{17}:trail$/),
        sessionContext: {
          sessionIssuer: { type: 'Role', arn: c.roleArn, userName: 'kmslab-kms-plugin' },
          attributes: { mfaAuthenticated: 'false' },
        },
      },
    });
    expect(e!.eventTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(d).toMatchObject({ eventName: 'Decrypt', resources: [{ ARN: c.keyArn }], responseElements: null });
    const trail = await readFile(c.auditFile!, 'utf8');
    expect(
      trail
        .split('\n')
        .filter(Boolean)
        .every((l) => JSON.parse(l) && true),
    ).toBe(true);
    for (const secret of [plaintext, blob, session.secret, session.token, c.secretAccessKey, c.admin.secretAccessKey])
      expect(trail.includes(secret)).toBe(false);
  });
});
