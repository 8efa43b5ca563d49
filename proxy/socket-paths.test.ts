import { existsSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { startFakeKms, type FakeKms } from '../fake-kms/index.js';
import { kmslab } from '../test/support/cli.js';
import { KmsProxy } from './kms-proxy.js';
import { UNIX_SOCKET_PATH_MAX, UnusableSocketPaths } from './socket-paths.js';

let dir: string;
let plugin: FakeKms;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kms-proxy-paths-'));
  plugin = await startFakeKms({ socketPath: join(dir, 'plugin', 'kms.sock') });
});
afterEach(async () => {
  await plugin.close();
});

test('a socket path over the unix limit is refused up front, naming the limit, and nothing is left behind', async () => {
  const deep = join(dir, 'd'.repeat(60), 'e'.repeat(60));
  const socketPath = join(deep, 'kms.sock');
  expect(Buffer.byteLength(socketPath)).toBeGreaterThan(UNIX_SOCKET_PATH_MAX);
  const error = await KmsProxy.start({ socketPath, upstreamSocket: plugin.socketPath }).catch((e: Error) => e);
  expect(error).toBeInstanceOf(UnusableSocketPaths);
  expect((error as Error).message).toMatch(/--socket .* is \d+ bytes; a unix socket path can have at most 108/);
  expect(existsSync(join(dir, 'd'.repeat(60)))).toBe(false);
  expect(readdirSync(dir)).toEqual(['plugin']);
});

test('a socket path of exactly the limit works', async () => {
  const base = join(dir, 'p');
  const socketPath = join(base, 's'.repeat(UNIX_SOCKET_PATH_MAX - base.length - 1));
  expect(Buffer.byteLength(socketPath)).toBe(UNIX_SOCKET_PATH_MAX);
  const proxy = await KmsProxy.start({ socketPath, upstreamSocket: plugin.socketPath });
  expect(existsSync(socketPath)).toBe(true);
  await proxy.close();
});

test.each([
  ['the same path', (d: string) => ({ socket: join(d, 'plugin', 'kms.sock') })],
  ['another spelling of it', (d: string) => ({ socket: join(d, 'plugin', '..', 'plugin', './kms.sock') })],
  [
    'a symlinked directory',
    (d: string) => {
      symlinkSync(join(d, 'plugin'), join(d, 'alias'));
      return { socket: join(d, 'alias', 'kms.sock') };
    },
  ],
  [
    'an upstream that is a symlink to the proxy socket',
    (d: string) => {
      mkdirSync(join(d, 'proxy'), { mode: 0o700 });
      symlinkSync(join(d, 'proxy', 'kms.sock'), join(d, 'upstream-link'));
      return { socket: join(d, 'proxy', 'kms.sock'), upstream: join(d, 'upstream-link') };
    },
  ],
  [
    'the control socket',
    (d: string) => ({ socket: join(d, 'proxy', 'kms.sock'), control: join(d, 'plugin', 'kms.sock') }),
  ],
])('an upstream that is the proxy itself (%s) is refused before anything is touched', async (_, paths) => {
  const p = paths(dir);
  const upstream = 'upstream' in p && typeof p.upstream === 'string' ? p.upstream : plugin.socketPath;
  const error = await KmsProxy.start({
    socketPath: p.socket,
    upstreamSocket: upstream,
    ...('control' in p && typeof p.control === 'string' ? { controlSocketPath: p.control } : {}),
  }).catch((e: Error) => e);
  expect(error).toBeInstanceOf(UnusableSocketPaths);
  expect((error as Error).message).toMatch(/would forward every call to itself/);
  // The plugin's socket is still there and still its own.
  expect(existsSync(plugin.socketPath)).toBe(true);
  expect((await plugin.describe()).listening).toBe(true);
});

test('kmslab proxy serve: an unusable socket path is a usage error (exit 2) that says what to do', async () => {
  const r = await kmslab([
    'proxy',
    'serve',
    '--socket',
    join(dir, 'x'.repeat(120), 'kms.sock'),
    '--upstream',
    plugin.socketPath,
  ]);
  expect(r.exitCode).toBe(2);
  expect(String(r.stderr)).toMatch(/is \d+ bytes; a unix socket path can have at most 108: use a shorter directory/);
  expect(readdirSync(dir)).toEqual(['plugin']);
  const loop = await kmslab(['proxy', 'serve', '--socket', plugin.socketPath, '--upstream', plugin.socketPath]);
  expect(loop.exitCode).toBe(2);
  expect(String(loop.stderr)).toMatch(/would forward every call to itself/);
}, 30_000);
