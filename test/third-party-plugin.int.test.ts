import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as grpcStatus } from '@grpc/grpc-js';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runConformance } from '../conformance/index.js';
import { findBinary, labOptionsFor, startLab } from '../harness/index.js';
import { ManagedProcess } from '../harness/process/managed-process.js';
import { isRunning } from '../harness/process/process-identity.js';
import { selectScenarios } from '../scenarios/index.js';
import { isolateHome, uniqueName } from './support/env.js';
import { kmsClient } from './support/kms-client.js';

isolateHome();

// A KMS v2 stack made of third-party code only: the upstream plugin gRPC server (k8s.io/kms/pkg/service) and the AWS
// SDK for Go v2 in our aws-kms-plugin, and local-kms (an AWS KMS emulator) holding the keys. Everything is built from
// the Go module proxy by `kmslab build --tools`; nothing here is the fake KMS.
describe('third-party stack: aws-kms-plugin (k8s.io/kms + AWS SDK v2) on local-kms', () => {
  const ALIAS = 'alias/kmslab-test';
  const KEY_ARN = /^arn:aws:kms:[a-z0-9-]+:\d{12}:key\/[0-9a-f-]{36}$/;
  let dir: string;
  let socket: string;
  let pluginBin: string;
  let localKmsBin: string;
  let localKms: ManagedProcess;
  let plugin: ManagedProcess;
  let endpoint: string;
  let client: ReturnType<typeof kmsClient>;
  const started: ManagedProcess[] = [];

  const startLocalKms = async (listen: string) => {
    const addressFile = join(dir, 'local-kms.url');
    rmSync(addressFile, { force: true });
    const p = await ManagedProcess.spawn({
      name: 'local-kms',
      command: localKmsBin,
      args: ['--listen', listen, '--data-dir', join(dir, 'local-kms-data'), '--address-file', addressFile],
      logFile: join(dir, 'local-kms.log'),
    });
    started.push(p);
    const url = await p.waitUntil(
      async () => (existsSync(addressFile) ? readFileSync(addressFile, 'utf8').trim() : undefined),
      {
        timeoutMs: 15_000,
        what: 'local-kms to listen',
      },
    );
    return { p, url };
  };

  const startPlugin = async () => {
    const p = await ManagedProcess.spawn({
      name: 'aws-kms-plugin',
      command: pluginBin,
      args: ['serve', '--socket', socket, '--kms-endpoint', endpoint, '--alias', ALIAS],
      logFile: join(dir, 'aws-kms-plugin.log'),
    });
    started.push(p);
    await p.waitUntil(async () => (existsSync(socket) ? true : undefined), { timeoutMs: 15_000, what: 'the socket' });
    return p;
  };

  /** hook runs a lifecycle subcommand as kmslab's key hooks do, and returns what it printed (a key ARN). */
  const hook = async (...args: string[]) => {
    const r = await execa(pluginBin, args, { reject: false, timeout: 20_000 });
    if (r.exitCode !== 0) throw new Error(`aws-kms-plugin ${args.join(' ')} exited ${r.exitCode}: ${r.stderr}`);
    return r.stdout.trim();
  };

  const grpcError = (p: Promise<unknown>) =>
    p.then(
      () => ({ code: 'none', details: 'the call succeeded' }),
      (e: { code: number; details: string }) => ({ code: grpcStatus[e.code], details: e.details }),
    );

  const seal = async (plaintext = randomBytes(32)) => {
    const res = await client.encrypt({ plaintext, uid: randomUUID() });
    return { plaintext, ...res };
  };
  const open = (c: { ciphertext: Buffer; keyId: string }, keyId = c.keyId) =>
    client.decrypt({ ciphertext: c.ciphertext, keyId, uid: randomUUID(), annotations: {} });

  beforeAll(async () => {
    [pluginBin, localKmsBin] = await Promise.all([
      findBinary('aws-kms-plugin').then((b) => b.path),
      findBinary('local-kms').then((b) => b.path),
    ]);
    dir = mkdtempSync(join(tmpdir(), 'kmslab-third-party-'));
    mkdirSync(join(dir, 'sock'), { mode: 0o700 });
    socket = join(dir, 'sock', 'kms.sock');
    ({ p: localKms, url: endpoint } = await startLocalKms('127.0.0.1:0'));
    await hook('init', '--kms-endpoint', endpoint, '--alias', ALIAS);
    plugin = await startPlugin();
    client = kmsClient(socket);
  });

  afterAll(async () => {
    client?.close();
    for (const p of started.reverse()) await p.stop(5_000);
    // Nothing it started outlives the test.
    for (const p of started) expect(isRunning(p.record)).toBe(false);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('Status, Encrypt and Decrypt round-trip over the real gRPC API; the socket is 0600', async () => {
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    const current = await hook('current', '--kms-endpoint', endpoint, '--alias', ALIAS);
    expect(current).toMatch(KEY_ARN);
    // init is idempotent: a second run names the same key.
    expect(await hook('init', '--kms-endpoint', endpoint, '--alias', ALIAS)).toBe(current);

    const status = await client.status();
    expect(status).toEqual({ version: 'v2', healthz: 'ok', keyId: current });

    const sealed = await seal();
    expect(sealed.keyId).toBe(status.keyId);
    expect(sealed.ciphertext.length).toBeLessThanOrEqual(1024);
    expect(sealed.annotations).toEqual({});
    expect((await open(sealed)).plaintext).toEqual(sealed.plaintext);
    // The same seed twice gives two ciphertexts (the KMS draws a fresh nonce).
    expect((await seal(sealed.plaintext)).ciphertext).not.toEqual(sealed.ciphertext);
    for (const size of [1, 900]) {
      const s = await seal(randomBytes(size));
      expect((await open(s)).plaintext).toEqual(s.plaintext);
    }
  });

  test('refuses an altered ciphertext, a key_id it did not write, an empty uid, with a code and a message', async () => {
    const sealed = await seal();
    // Every single-bit change, wherever it is, is refused (never a plaintext).
    for (let i = 0; i < sealed.ciphertext.length; i++) {
      const altered = Buffer.from(sealed.ciphertext);
      altered[i]! ^= 0x01;
      const e = await grpcError(open({ ciphertext: altered, keyId: sealed.keyId }));
      expect(e.code, `byte ${i}`).toBe('INVALID_ARGUMENT');
      expect(e.details).not.toBe('');
    }
    const last = Buffer.from(sealed.ciphertext);
    last[last.length - 1]! ^= 0x80;
    expect(await grpcError(open({ ciphertext: last, keyId: sealed.keyId }))).toMatchObject({
      code: 'INVALID_ARGUMENT',
      details: expect.stringContaining('InvalidCiphertextException'),
    });

    const unknown = sealed.keyId.replace(/key\/[0-9a-f]{8}/, 'key/00000000');
    for (const keyId of ['', 'not-a-key', ALIAS, unknown]) {
      const e = await grpcError(open(sealed, keyId));
      expect(e.code, keyId).toBe('INVALID_ARGUMENT');
      expect(e.details).toMatch(/not a KMS key ARN|not by key_id/);
    }
    expect(await grpcError(client.encrypt({ plaintext: randomBytes(32), uid: '' }))).toMatchObject({
      code: 'INVALID_ARGUMENT',
      details: expect.stringContaining('uid is empty'),
    });
    expect(await grpcError(client.encrypt({ plaintext: Buffer.alloc(0), uid: randomUUID() }))).toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    expect(await grpcError(client.encrypt({ plaintext: randomBytes(4097), uid: randomUUID() }))).toMatchObject({
      code: 'INVALID_ARGUMENT',
      details: expect.stringContaining('4097 bytes'),
    });
  });

  test('a rotation through the hook gives a key_id never seen before; data of the old key_id still decrypts', async () => {
    const before = await seal();
    const seen = new Set([before.keyId]);
    for (let i = 0; i < 2; i++) {
      const rotated = await hook('rotate', '--kms-endpoint', endpoint, '--alias', ALIAS);
      expect(rotated).toMatch(KEY_ARN);
      expect(seen.has(rotated)).toBe(false);
      seen.add(rotated);
      // Status has no cache: the very next call reports the new key, and Encrypt agrees with it.
      expect(await client.status()).toMatchObject({ healthz: 'ok', keyId: rotated });
      const after = await seal();
      expect(after.keyId).toBe(rotated);
      expect((await open(after)).plaintext).toEqual(after.plaintext);
    }
    expect((await open(before)).plaintext).toEqual(before.plaintext);
    // A ciphertext is bound to the key that made it: naming the new key_id for old data is refused.
    const current = (await client.status()).keyId;
    expect(await grpcError(open(before, current))).toMatchObject({
      code: 'INVALID_ARGUMENT',
      details: expect.stringContaining('not by key_id'),
    });
  });

  test('a disabled key refuses Encrypt and Decrypt and Status stops saying "ok" at once; enabling restores', async () => {
    const keyId = (await client.status()).keyId;
    const sealed = await seal();
    // The hook gets the key_id as kmslab passes it: in $KMSLAB_KEY_ID (here) or as {keyId} on its command line.
    const r = await execa(pluginBin, ['disable', '--kms-endpoint', endpoint], { env: { KMSLAB_KEY_ID: keyId } });
    expect(r.stdout.trim()).toBe(keyId);

    const status = await client.status();
    expect(status.keyId).toBe(keyId);
    expect(status.healthz).not.toBe('ok');
    expect(status.healthz).toContain('Disabled');
    expect(await grpcError(seal())).toMatchObject({
      code: 'FAILED_PRECONDITION',
      details: expect.stringContaining('DisabledException'),
    });
    expect(await grpcError(open(sealed))).toMatchObject({
      code: 'FAILED_PRECONDITION',
      details: expect.stringContaining('the key is Disabled'),
    });

    await hook('enable', '--kms-endpoint', endpoint, keyId);
    expect(await client.status()).toMatchObject({ healthz: 'ok', keyId });
    expect((await open(sealed)).plaintext).toEqual(sealed.plaintext);
    expect((await seal()).keyId).toBe(keyId);
  });

  test('data written before a plugin restart decrypts after it; a KMS outage is healthz "err", not a failed Status', async () => {
    const sealed = await seal();
    await plugin.stop();
    expect(existsSync(socket)).toBe(false);
    plugin = await startPlugin();
    expect((await open(sealed)).plaintext).toEqual(sealed.plaintext);

    // local-kms down: Status still answers, with the last key_id and the reason; calls fail UNAVAILABLE.
    const listen = new URL(endpoint).host;
    await localKms.stop();
    const down = await client.status();
    expect(down.keyId).toBe(sealed.keyId);
    expect(down.healthz).toMatch(/^err: .*unreachable/);
    expect(await grpcError(open(sealed))).toMatchObject({ code: 'UNAVAILABLE' });

    // Back on the same address with the same data dir: the keys survived, and the plugin recovers by itself.
    ({ p: localKms } = await startLocalKms(listen));
    expect(await client.status()).toMatchObject({ healthz: 'ok', keyId: sealed.keyId });
    expect((await open(sealed)).plaintext).toEqual(sealed.plaintext);
  });

  test('hundreds of calls in flight all succeed', async () => {
    const n = 300;
    const started = Date.now();
    const sealed = await Promise.all(Array.from({ length: n }, () => seal()));
    const opened = await Promise.all(sealed.map((s) => open(s)));
    const statuses = await Promise.all(Array.from({ length: n }, () => client.status()));
    opened.forEach((o, i) => expect(o.plaintext).toEqual(sealed[i]!.plaintext));
    expect(new Set(statuses.map((s) => s.healthz))).toEqual(new Set(['ok']));
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  // The plugin run by kmslab itself (--plugin-cmd) with all four hooks, on an alias of its own: every protocol and
  // lifecycle check passes with nothing skipped, and scenarios pass on real kube-apiserver labs behind the proxy.
  test('kmslab conformance passes with nothing skipped, and scenarios pass on a real kube-apiserver', async () => {
    const alias = 'alias/kmslab-conformance';
    await hook('init', '--kms-endpoint', endpoint, '--alias', alias);
    const kms = `--kms-endpoint ${endpoint}`;
    const plugin = {
      command: `${pluginBin} serve --socket {socket} ${kms} --alias ${alias}`,
      hooks: {
        rotate: `${pluginBin} rotate ${kms} --alias ${alias}`,
        disable: `${pluginBin} disable ${kms} {keyId}`,
        enable: `${pluginBin} enable ${kms} {keyId}`,
        destroy: `${pluginBin} destroy ${kms} {keyId}`,
      },
    };
    const report = await runConformance({
      plugin,
      scenarios: selectScenarios(['enable-new', 'rotate']),
      settleMs: 10_000,
      artifactsDir: join(dir, 'conformance'),
      makeLab: (s, signal) =>
        startLab({
          name: uniqueName('tp-conf'),
          plugin,
          removeOnClose: true,
          ...(signal ? { signal } : {}),
          ...labOptionsFor(s.needs),
        }),
    });
    // The backend checks need --cloud (a local-kms backend is not one kmslab can fail): skipped, saying so.
    const notPassed = report.checks
      .filter((c) => c.outcome !== 'passed' && !(c.phase === 'backend' && c.outcome === 'skipped'))
      .map((c) => `${c.id}: ${c.message}`);
    expect(notPassed).toEqual([]);
    expect(report.outcome).toBe('passed');
    expect(report.notChecked).toEqual([]);
    // Its Status answers a disabled key with healthz "err: …" and the same key_id: /healthz goes red, writes go on.
    expect(report.checks.find((c) => c.id === 'disable-status-not-ok')).toMatchObject({
      evidence: { style: 'not-ok', freshProcess: true },
      note: expect.stringContaining('writes go on indefinitely'),
    });
    expect(report.checks.filter((c) => c.phase === 'lifecycle').length).toBeGreaterThan(0);
    expect(report.scenarios?.scenarios.map((s) => [s.name, s.outcome])).toEqual([
      ['enable-new', 'passed'],
      ['rotate', 'passed'],
    ]);
  }, 600_000);

  test('hooks refuse bad input with exit code 2 and a clear message, before any KMS call', async () => {
    const cases: [string[], RegExp][] = [
      [['disable', '--kms-endpoint', endpoint], /no key given/],
      [['disable', '--kms-endpoint', endpoint, ALIAS], /is an alias/],
      [['rotate', '--kms-endpoint', 'http://192.0.2.1:4599', '--alias', ALIAS], /only a loopback host/],
      [['init', '--kms-endpoint', endpoint, '--alias', 'kmslab'], /must be alias\/NAME/],
      [['serve', '--kms-endpoint', endpoint, '--alias', ALIAS], /--socket is required/],
      [['shred'], /unknown command/],
    ];
    for (const [args, message] of cases) {
      const r = await execa(pluginBin, args, { reject: false, env: { KMSLAB_KEY_ID: '', KMSLAB_PLUGIN_SOCKET: '' } });
      expect(r.exitCode, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
    }
    // It never takes over a socket another server answers on, nor replaces a file that is not a socket.
    const notSocket = join(dir, 'sock', 'not-a-socket');
    writeFileSync(notSocket, 'keep me');
    for (const [path, message] of [
      [socket, /in use by another server/],
      [notSocket, /is not a socket/],
    ] as const) {
      const r = await execa(pluginBin, ['serve', '--socket', path, '--kms-endpoint', endpoint, '--alias', ALIAS], {
        reject: false,
        timeout: 10_000,
      });
      expect(r.exitCode, path).toBe(1);
      expect(r.stderr).toMatch(message);
    }
    expect(readFileSync(notSocket, 'utf8')).toBe('keep me');
    expect((await client.status()).healthz).toBe('ok');
    // The plugin never writes seeds or plaintext into its log.
    expect(readFileSync(join(dir, 'aws-kms-plugin.log'), 'utf8')).not.toMatch(/plaintext=|seed=/);
  });
});
