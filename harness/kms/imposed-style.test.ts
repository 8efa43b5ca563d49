import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { KmsControlClient, startFakeKms } from '../../fake-kms/index.js';
import { KmsProxy, type ProxyStatus } from '../../proxy/index.js';
import { externalLacks, hookedKms } from './control-kms.js';

const dir = mkdtempSync(join(tmpdir(), 'kmslab-imposed-style-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// An external plugin's lab can take a health style: the proxy in front of it imposes it, so the style scenarios
// run on any plugin.
test('an external plugin behind the proxy can be given a health style', async () => {
  expect(externalLacks({ command: 'p {socket}' })('disabled-key-status')).toBeUndefined();
  const upstream = await startFakeKms({ socketPath: join(dir, 'plugin', 'kms.sock') });
  const proxy = await KmsProxy.start({
    socketPath: join(dir, 'proxy', 'kms.sock'),
    upstreamSocket: upstream.socketPath,
    controlSocketPath: join(dir, 'proxy', 'control.sock'),
  });
  try {
    const control = new KmsControlClient(join(dir, 'proxy', 'control.sock'));
    const kms = hookedKms(control, { socket: upstream.socketPath }, join(dir, 'hooks.log'));
    expect(kms.capabilities.has('disabled-key-status')).toBe(true);
    await kms.setDisabledKeyStatus('fail-rpc');
    expect(((await control.status()) as unknown as ProxyStatus).healthStyle).toBe('fail-rpc');
  } finally {
    await proxy.close();
    await upstream.close();
  }
});
