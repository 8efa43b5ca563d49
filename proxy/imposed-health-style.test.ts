import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as Code, type ServiceError } from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { KmsControlClient, startFakeKms, type FakeKms } from '../fake-kms/index.js';
import { kmsClient } from '../test/support/kms-client.js';
import type { KmsProxy, ProxyStatus } from './kms-proxy.js';
import { startProxyUnderTest } from './proxy-under-test.test-helper.js';

// The proxy imposing the other health style on a plugin: the fake KMS plays the plugin, in either style of its own.
let dir: string;
let upstream: FakeKms;
let proxy: KmsProxy;
let grpc: ReturnType<typeof kmsClient>;
let control: KmsControlClient;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kms-proxy-style-'));
  upstream = await startFakeKms({ socketPath: join(dir, 'plugin', 'kms.sock') });
  ({ proxy, grpc, control } = await startProxyUnderTest(dir, upstream.socketPath));
});
afterEach(async () => {
  grpc.close();
  await proxy.close();
  await upstream.close();
});

const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: ServiceError) => ({ code: Code[e.code], details: e.details }),
  );

describe('a health style imposed by the proxy', () => {
  test('fail-rpc on a plugin that answers not ok: the Status fails, naming what the plugin said', async () => {
    const { keyId } = await grpc.status();
    expect(((await control.setDisabledKeyStatus('fail-rpc')) as unknown as ProxyStatus).healthStyle).toBe('fail-rpc');
    upstream.plugin.keyring.disable(keyId);
    expect(await failure(grpc.status())).toEqual({
      code: 'FAILED_PRECONDITION',
      details: expect.stringMatching(/healthz "key_id .* is disabled".*health style fail-rpc/),
    });
    // A healthy answer passes unchanged.
    upstream.plugin.keyring.enable(keyId);
    expect(await grpc.status()).toMatchObject({ healthz: 'ok', keyId });
    const audit = await control.audit({ method: 'Status' });
    expect(audit.map((r) => r.code)).toEqual(['OK', 'FAILED_PRECONDITION', 'OK']);
  });

  test('not-ok-keep-key-id on a plugin whose Status fails: an answer with the last healthy key_id', async () => {
    upstream.setDisabledKeyStatus('fail-rpc');
    const { keyId, version } = await grpc.status();
    await control.setDisabledKeyStatus('not-ok-keep-key-id');
    upstream.plugin.keyring.disable(keyId);
    const s = await grpc.status();
    expect(s).toEqual({
      version,
      keyId,
      healthz: expect.stringMatching(/^the plugin's Status failed, FAILED_PRECONDITION: key_id/),
    });
    expect((await control.audit({ method: 'Status' })).at(-1)).toMatchObject({ code: 'OK', keyId, healthz: s.healthz });
  });

  test('not-ok-keep-key-id changes answers only: a plugin that is gone, or never was healthy, still fails', async () => {
    upstream.setDisabledKeyStatus('fail-rpc');
    await control.setDisabledKeyStatus('not-ok-keep-key-id');
    // No healthy answer yet: no key_id to keep.
    upstream.plugin.keyring.disable((await upstream.describe()).keyId);
    expect((await failure(grpc.status()))?.code).toBe('FAILED_PRECONDITION');
    upstream.plugin.keyring.enable((await upstream.describe()).keyId);
    await grpc.status();
    await upstream.stopPlugin();
    expect((await failure(grpc.status()))?.code).toBe('UNAVAILABLE');
  });

  test('without one, the plugin answers in its own style; a bad style is refused naming the choices', async () => {
    expect((await control.status()) as unknown as ProxyStatus).toMatchObject({ healthStyle: 'own' });
    await expect(control.setDisabledKeyStatus('maybe' as never)).rejects.toThrow(/not-ok-keep-key-id, fail-rpc/);
  });
});
