import { randomUUID } from 'node:crypto';
import { appendFileSync, chmodSync, mkdtempSync, readFileSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { request } from 'node:http';
import { join } from 'node:path';
import { status as Code, type ServiceError } from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { kmsClient } from '../test/support/kms-client.js';
import { ControlRequestError, KmsControlClient } from './control-client.js';
import { startFakeKms, type FakeKms } from './fake-kms.js';

const FQDN = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z0-9]([-a-z0-9]*[a-z0-9])?\.?$/;
const uid = () => randomUUID();
const seed = () => Buffer.from(randomUUID().replaceAll('-', ''), 'hex'); // stands in for a 16-byte DEK seed
const grpcCode = (p: Promise<unknown>) =>
  p.then(
    () => 'OK',
    (e: ServiceError) => Code[e.code],
  );
const grpcError = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: ServiceError) => e,
  );

let dir: string;
let kms: FakeKms;
let grpc: ReturnType<typeof kmsClient>;
let control: KmsControlClient;

async function start(extra: Partial<Parameters<typeof startFakeKms>[0]> = {}) {
  kms = await startFakeKms({
    socketPath: join(dir, 'sock', 'kms.sock'),
    controlSocketPath: join(dir, 'sock', 'control.sock'),
    stateDir: join(dir, 'state'),
    auditFile: join(dir, 'audit.jsonl'),
    ...extra,
  });
  grpc = kmsClient(kms.socketPath);
  control = new KmsControlClient(kms.controlSocketPath!);
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fake-kms-'));
  await start();
});
afterEach(async () => {
  grpc.close();
  await kms.close();
});

describe('KMS v2 protocol', () => {
  test('Status answers version v2, healthz ok and the primary key_id', async () => {
    const s = await grpc.status();
    expect(s).toEqual({ version: 'v2', healthz: 'ok', keyId: (await control.status()).keyId });
    expect(Buffer.byteLength(s.keyId)).toBeLessThanOrEqual(1024);
  });

  test('Encrypt returns what the apiserver accepts: key_id equal to Status, small ciphertext, FQDN annotation keys', async () => {
    const r = await grpc.encrypt({ plaintext: seed(), uid: uid() });
    expect(r.keyId).toBe((await grpc.status()).keyId);
    expect(r.ciphertext.length).toBeGreaterThan(0);
    expect(r.ciphertext.length).toBeLessThanOrEqual(1024);
    const keys = Object.keys(r.annotations);
    expect(keys.length).toBeGreaterThan(0);
    for (const k of keys) expect(k).toMatch(FQDN);
    const total = Object.entries(r.annotations).reduce((n, [k, v]) => n + k.length + v.length, 0);
    expect(total).toBeLessThanOrEqual(32 * 1024);
  });

  test('Decrypt returns the exact plaintext; bad requests get the right code and never crash the plugin', async () => {
    const plaintext = seed();
    const { ciphertext, keyId } = await grpc.encrypt({ plaintext, uid: uid() });
    expect((await grpc.decrypt({ ciphertext, keyId, uid: uid(), annotations: {} })).plaintext).toEqual(plaintext);

    expect(await grpcCode(grpc.encrypt({ plaintext, uid: '' }))).toBe('INVALID_ARGUMENT');
    expect(await grpcCode(grpc.encrypt({ plaintext: Buffer.alloc(0), uid: uid() }))).toBe('INVALID_ARGUMENT');
    expect(await grpcCode(grpc.decrypt({ ciphertext, keyId, uid: '', annotations: {} }))).toBe('INVALID_ARGUMENT');
    expect(await grpcCode(grpc.decrypt({ ciphertext, keyId: 'unknown-v1', uid: uid(), annotations: {} }))).toBe(
      'NOT_FOUND',
    );
    const tampered = Buffer.from(ciphertext);
    tampered[tampered.length - 1]! ^= 0xff;
    expect(await grpcCode(grpc.decrypt({ ciphertext: tampered, keyId, uid: uid(), annotations: {} }))).toBe(
      'INVALID_ARGUMENT',
    );
    expect(await grpcCode(grpc.decrypt({ ciphertext: Buffer.from('junk'), keyId, uid: uid(), annotations: {} }))).toBe(
      'INVALID_ARGUMENT',
    );
    expect((await grpc.status()).healthz).toBe('ok');
  });
});

describe('key lifecycle', () => {
  test('rotate changes the key_id in Status and Encrypt; the old key_id still decrypts', async () => {
    const before = await grpc.encrypt({ plaintext: Buffer.from('old'), uid: uid() });
    const v2 = await control.rotate();
    expect(v2.keyId).not.toBe(before.keyId);
    expect((await grpc.status()).keyId).toBe(v2.keyId);
    expect((await grpc.encrypt({ plaintext: Buffer.from('new'), uid: uid() })).keyId).toBe(v2.keyId);
    const back = await grpc.decrypt({
      ciphertext: before.ciphertext,
      keyId: before.keyId,
      uid: uid(),
      annotations: {},
    });
    expect(back.plaintext.toString()).toBe('old');
  });

  test('a disabled version refuses Decrypt with FAILED_PRECONDITION naming the key_id; enable restores it', async () => {
    const w = await grpc.encrypt({ plaintext: Buffer.from('x'), uid: uid() });
    await control.rotate();
    await control.disable(w.keyId);
    const err = await grpcError(
      grpc.decrypt({ ciphertext: w.ciphertext, keyId: w.keyId, uid: uid(), annotations: {} }),
    );
    expect(Code[err!.code]).toBe('FAILED_PRECONDITION');
    expect(err!.details).toContain(w.keyId);
    await control.enable('v1');
    expect(
      (
        await grpc.decrypt({ ciphertext: w.ciphertext, keyId: w.keyId, uid: uid(), annotations: {} })
      ).plaintext.toString(),
    ).toBe('x');
  });

  test('primary disabled: Status stays a response with healthz naming the problem and the same key_id (default)', async () => {
    const { keyId } = await grpc.status();
    await control.disable(keyId);
    const s = await grpc.status();
    expect(s.keyId).toBe(keyId);
    expect(s.healthz).not.toBe('ok');
    expect(s.healthz).toContain('disabled');
    expect(await grpcCode(grpc.encrypt({ plaintext: seed(), uid: uid() }))).toBe('FAILED_PRECONDITION');
  });

  test('primary disabled with health style fail-rpc: Status itself fails with FAILED_PRECONDITION', async () => {
    await control.setDisabledKeyStatus('fail-rpc');
    await control.disable((await grpc.status()).keyId);
    expect(await grpcCode(grpc.status())).toBe('FAILED_PRECONDITION');
  });

  test('health style by its first name: error is fail-rpc, unhealthy is not-ok-keep-key-id; others refused', async () => {
    expect((await control.setDisabledKeyStatus('error' as never)).disabledKeyStatus).toBe('fail-rpc');
    expect((await control.setDisabledKeyStatus('unhealthy' as never)).disabledKeyStatus).toBe('not-ok-keep-key-id');
    await expect(control.setDisabledKeyStatus('toString' as never)).rejects.toThrow(/not-ok-keep-key-id, fail-rpc/);
    await control.setDisabledKeyStatus('fail-rpc');
    await control.disable((await grpc.status()).keyId);
    expect(await grpcCode(grpc.status())).toBe('FAILED_PRECONDITION');
    await control.setDisabledKeyStatus('not-ok-keep-key-id');
    expect((await grpc.status()).healthz).toContain('disabled');
  });

  test('destroy is irrecoverable', async () => {
    const w = await grpc.encrypt({ plaintext: Buffer.from('gone'), uid: uid() });
    await control.rotate();
    await control.destroy(w.keyId);
    expect(
      await grpcCode(grpc.decrypt({ ciphertext: w.ciphertext, keyId: w.keyId, uid: uid(), annotations: {} })),
    ).toBe('FAILED_PRECONDITION');
    await expect(control.enable(w.keyId)).rejects.toMatchObject({ status: 409 });
    expect(readFileSync(join(dir, 'state', 'keyring.json'), 'utf8')).toContain('"state":"destroyed","createdAt"');
  });
});

describe('faults', () => {
  test('error: chosen code and message, on the chosen method only', async () => {
    await control.addFault({ kind: 'error', method: 'Decrypt', code: 'PERMISSION_DENIED', message: 'no kms:Decrypt' });
    const w = await grpc.encrypt({ plaintext: seed(), uid: uid() }); // split failure: Encrypt still fine
    const err = await grpcError(
      grpc.decrypt({ ciphertext: w.ciphertext, keyId: w.keyId, uid: uid(), annotations: {} }),
    );
    expect([Code[err!.code], err!.details]).toEqual(['PERMISSION_DENIED', 'no kms:Decrypt']);
    expect((await grpc.status()).healthz).toBe('ok');
  });

  test('latency delays the answer by at least the given time', async () => {
    await control.addFault({ kind: 'latency', method: 'Status', ms: 300 });
    const t = performance.now();
    await grpc.status();
    expect(performance.now() - t).toBeGreaterThanOrEqual(290);
  });

  test('hang holds calls until cleared; the caller deadline fires first', async () => {
    await control.addFault({ kind: 'hang', method: 'Status' });
    expect(await grpcCode(grpc.status())).toBe('DEADLINE_EXCEEDED');
    const held = grpc.status();
    await new Promise((r) => setTimeout(r, 200));
    await control.clearFaults();
    expect((await held).healthz).toBe('ok');
  }, 20_000);

  test('a count-limited hang holds that many calls, lets later ones through, and releases them when cleared', async () => {
    const fault = await control.addFault({ kind: 'hang', method: 'Status', count: 1 });
    const held = grpc.status();
    await new Promise((r) => setTimeout(r, 100));
    expect((await grpc.status()).healthz).toBe('ok'); // the second call is not held
    expect((await control.faults()).map((f) => f.id)).toEqual([fault.id]); // still listed, so it can be cleared
    await control.clearFaults(fault.id);
    expect((await held).healthz).toBe('ok');
  });

  test('healthz, key-id, version and annotations lies', async () => {
    const truth = (await grpc.status()).keyId;
    await control.addFault({ kind: 'healthz', value: 'degraded' });
    await control.addFault({ kind: 'key-id', method: 'Status', value: 'liar-1' });
    await control.addFault({ kind: 'version', value: 'v3' });
    expect(await grpc.status()).toEqual({ version: 'v3', healthz: 'degraded', keyId: 'liar-1' });
    await control.clearFaults();
    await control.addFault({ kind: 'key-id', method: 'Encrypt', value: 'other-2' });
    await control.addFault({ kind: 'annotations', value: { 'Not A Domain': 'x' } });
    const r = await grpc.encrypt({ plaintext: seed(), uid: uid() });
    expect(r.keyId).toBe('other-2');
    expect(Object.keys(r.annotations)).toEqual(['Not A Domain']);
    // The wrap itself used the true key: the real key_id still decrypts it.
    expect(
      (await grpc.decrypt({ ciphertext: r.ciphertext, keyId: truth, uid: uid(), annotations: {} })).plaintext.length,
    ).toBe(16);
  });

  test('count-limited faults retire; seeded probability is replayable', async () => {
    await control.addFault({ kind: 'error', method: 'Status', count: 2 });
    const codes = [];
    for (let i = 0; i < 4; i++) codes.push(await grpcCode(grpc.status()));
    expect(codes).toEqual(['UNAVAILABLE', 'UNAVAILABLE', 'OK', 'OK']);
    expect(await control.faults()).toEqual([]);

    const run = async () => {
      await control.clearFaults();
      await control.addFault({ kind: 'error', method: 'Status', probability: 0.5, seed: 'replay' });
      const out = [];
      for (let i = 0; i < 16; i++) out.push(await grpcCode(grpc.status()));
      return out;
    };
    const first = await run();
    expect(new Set(first)).toEqual(new Set(['OK', 'UNAVAILABLE']));
    expect(await run()).toEqual(first);
  });

  test('stop removes the socket and calls fail; start brings it back with the same keys', async () => {
    const w = await grpc.encrypt({ plaintext: Buffer.from('kept'), uid: uid() });
    await control.stopPlugin();
    expect(existsSync(kms.socketPath)).toBe(false);
    expect(await grpcCode(grpc.status())).toMatch(/UNAVAILABLE|DEADLINE_EXCEEDED/);
    expect((await control.status()).listening).toBe(false);
    await control.startPlugin();
    grpc.close();
    grpc = kmsClient(kms.socketPath);
    expect(
      (
        await grpc.decrypt({ ciphertext: w.ciphertext, keyId: w.keyId, uid: uid(), annotations: {} })
      ).plaintext.toString(),
    ).toBe('kept');
  }, 20_000);

  test('every fault is named in the audit trail', async () => {
    const f = await control.addFault({ kind: 'latency', method: 'Status', ms: 1 });
    await grpc.status();
    const [last] = await control.audit({ method: 'Status', limit: 1 });
    expect(last!.faults).toEqual([f.id]);
  });
});

describe('audit trail', () => {
  test('one record per call, queryable, counted, in Prometheus form, and never with plaintext or key material', async () => {
    const since = new Date().toISOString();
    const secret = Buffer.from('TOP-SECRET-SEED-0123456789abcdef');
    const w = await grpc.encrypt({ plaintext: secret, uid: 'uid-1' });
    await grpc.decrypt({ ciphertext: w.ciphertext, keyId: w.keyId, uid: 'uid-2', annotations: {} });
    await grpcCode(grpc.decrypt({ ciphertext: w.ciphertext, keyId: 'nope', uid: 'uid-3', annotations: {} }));

    const records = await control.audit({ since });
    expect(records.map((r) => [r.method, r.uid, r.code])).toEqual([
      ['Encrypt', 'uid-1', 'OK'],
      ['Decrypt', 'uid-2', 'OK'],
      ['Decrypt', 'uid-3', 'NOT_FOUND'],
    ]);
    expect(records[0]).toMatchObject({
      keyId: w.keyId,
      requestBytes: secret.length,
      responseBytes: w.ciphertext.length,
    });
    expect(await control.audit({ method: 'Encrypt', since })).toHaveLength(1);
    expect((await control.counters()).Decrypt).toEqual({ OK: 1, NOT_FOUND: 1 });
    expect(await control.metrics()).toContain('kmslab_fake_kms_calls_total{method="Decrypt",code="NOT_FOUND"} 1');

    await kms.close(); // flush the file
    const file = readFileSync(join(dir, 'audit.jsonl'));
    expect(file.toString().trim().split('\n')).toHaveLength(3);
    const ring = JSON.parse(readFileSync(join(dir, 'state', 'keyring.json'), 'utf8'));
    const material = Buffer.from(ring.keys[0].versions[0].material, 'base64');
    for (const forbidden of [secret, w.ciphertext, material]) {
      for (const encoding of ['latin1', 'base64', 'hex'] as const) {
        expect(file.includes(forbidden.toString(encoding))).toBe(false);
      }
    }
    await start();
  });
});

describe('persistence and privacy', () => {
  test('a restart on the same state dir keeps every key: what was encrypted before still decrypts', async () => {
    const w = await grpc.encrypt({ plaintext: Buffer.from('durable'), uid: uid() });
    const rotated = await control.rotate();
    grpc.close();
    await kms.close();
    await start();
    expect((await grpc.status()).keyId).toBe(rotated.keyId);
    expect(
      (
        await grpc.decrypt({ ciphertext: w.ciphertext, keyId: w.keyId, uid: uid(), annotations: {} })
      ).plaintext.toString(),
    ).toBe('durable');
  });

  test('the audit trail continues across a restart on the same files, skipping a line torn by a kill', async () => {
    await grpc.status();
    await grpc.status();
    const before = await control.audit();
    grpc.close();
    await kms.close();
    appendFileSync(join(dir, 'audit.jsonl'), '{"seq":99,"meth'); // what a kill -9 mid-write leaves
    await start();
    await grpc.status();
    const after = await control.audit();
    expect(after.slice(0, before.length)).toEqual(before);
    expect(after.at(-1)!.seq).toBe(before.at(-1)!.seq + 1);
    await kms.close();
    const lines = readFileSync(join(dir, 'audit.jsonl'), 'utf8').trim().split('\n');
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ seq: after.at(-1)!.seq, method: 'Status' });
    await start();
  });

  test('sockets are 0600 in a 0700 dir; the state file is 0600', () => {
    expect(statSync(join(dir, 'sock')).mode & 0o777).toBe(0o700);
    expect(statSync(kms.socketPath).mode & 0o777).toBe(0o600);
    expect(statSync(kms.controlSocketPath!).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'state', 'keyring.json')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'audit.jsonl')).mode & 0o777).toBe(0o600);
  });

  test('an existing socket directory others can enter is refused, and left as it was', async () => {
    const open = mkdtempSync(join(tmpdir(), 'fake-kms-open-'));
    chmodSync(open, 0o755);
    await expect(startFakeKms({ socketPath: join(open, 'kms.sock') })).rejects.toThrow(
      /open to other users \(mode 755\)/,
    );
    expect(statSync(open).mode & 0o777).toBe(0o755);
  });

  test('ephemeral plugins persist nothing', async () => {
    grpc.close();
    await kms.close();
    const eph = mkdtempSync(join(tmpdir(), 'fake-kms-eph-'));
    kms = await startFakeKms({ socketPath: join(eph, 'kms.sock') });
    grpc = kmsClient(kms.socketPath);
    expect(kms.describe().ephemeral).toBe(true);
    expect((await grpc.status()).healthz).toBe('ok');
  });
});

describe('control API validation', () => {
  test('bad bodies get a 400 that names the problem, and change nothing', async () => {
    const before = await control.status();
    const bad = async (p: Promise<unknown>) => {
      const e = await p.then(
        () => undefined,
        (x: ControlRequestError) => x,
      );
      expect(e).toBeInstanceOf(ControlRequestError);
      expect(e!.status).toBe(400);
      return e!.message;
    };
    expect(await bad(control.addFault({ kind: 'latency', ms: -5 } as never))).toMatch(/ms/);
    expect(await bad(control.addFault({ kind: 'explode' } as never))).toMatch(/kind/);
    expect(await bad(control.addFault({ kind: 'error', code: 'NOPE' } as never))).toMatch(/code/);
    expect(await bad(control.addFault({ kind: 'error', typo: 1 } as never))).toMatch(/typo/);
    expect(await bad(control.createKey('Bad Name'))).toMatch(/lower-case/);
    expect(await bad(control.setDisabledKeyStatus('maybe' as never))).toMatch(/disabledKeyStatus/);
    await expect(control.disable('no-such-key')).rejects.toMatchObject({ status: 404 });
    const after = await control.status();
    expect(after.versions).toEqual(before.versions);
    expect(after.faults).toEqual([]);
  });

  test('a body past 64 KiB is refused with 413 before it is read; a wrong method gets 405 with Allow', async () => {
    const raw = (method: string, path: string, body?: Buffer) =>
      new Promise<{ status: number; allow?: string; text: string }>((resolve, reject) => {
        const req = request({ socketPath: kms.controlSocketPath!, method, path }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode!,
              text: Buffer.concat(chunks).toString(),
              ...(res.headers.allow ? { allow: String(res.headers.allow) } : {}),
            }),
          );
        });
        req.on('error', reject);
        req.end(body);
      });
    const big = await raw('POST', '/faults', Buffer.alloc(10 * 1024 * 1024, 0x20));
    expect(big.status).toBe(413);
    expect(big.text).toMatch(/larger than 65536 bytes/);
    const wrong = await raw('DELETE', '/status');
    expect(wrong.status).toBe(405);
    expect(wrong.allow).toMatch(/GET/);
    expect((await raw('PUT', '/keys/v1/disable')).status).toBe(405);
    expect((await raw('GET', '/no/such/route')).status).toBe(404);
    expect((await control.status()).faults).toEqual([]);
  });
});
