import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { buildOwnProgram, NO_PULL_PLUGIN } from './runtime-wrapper.js';

// The real kmslab-no-pull binary, spoken to over its socket exactly as dockerd does (the Docker plugin protocol).
const dir = mkdtempSync(join(tmpdir(), 'kmslab-no-pull-'));
const socket = join(dir, 'p.sock');
let stop: () => void;

beforeAll(async () => {
  const child = spawn(await buildOwnProgram('no-pull', NO_PULL_PLUGIN), [socket], { stdio: 'ignore' });
  stop = () => child.kill('SIGTERM');
  for (let i = 0; i < 100 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 50));
}, 120_000);
afterAll(() => {
  stop?.();
  rmSync(dir, { recursive: true, force: true });
});

const call = (path: string, body: unknown) =>
  new Promise<Record<string, unknown>>((resolve, reject) => {
    const req = request({ socketPath: socket, path, method: 'POST' }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve(JSON.parse(text) as Record<string, unknown>));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
const ask = (RequestMethod: string, RequestURI: string) =>
  call('/AuthZPlugin.AuthZReq', { User: '', RequestMethod, RequestURI, RequestHeaders: {} });

test('it announces itself as an authorization plugin', async () => {
  expect(await call('/Plugin.Activate', {})).toEqual({ Implements: ['authz'] });
});

test('every request that would reach a registry is refused, with a message saying what to do', async () => {
  for (const [method, uri] of [
    ['POST', '/v1.41/images/create?fromImage=kindest%2Fnode&tag=v1.37.2'],
    ['GET', '/v1.41/distribution/docker.io/library/alpine/json'],
    ['POST', '/v1.41/images/x/push?tag=1'],
    ['POST', '/v1.41/build?t=x&pull=1'],
    ['POST', '/v1.41/build?t=x&pull=True'],
    ['POST', '/v1.41/build?t=x&pull=on'],
    ['POST', '/v1.41/build?t=x&remote=https%3A%2F%2Fexample.com%2Fctx.tar'],
    ['POST', '/v1.41/build?remote=git%3A%2F%2Fexample.com%2Frepo'],
    ['POST', '/v1.41/images/create?fromSrc=http%3A%2F%2Fexample.com%2Frootfs.tar&repo=x'],
    ['POST', '/v1.41/plugins/pull?remote=vieux%2Fsshfs'],
    ['POST', '/v1.41/plugins/vieux%2Fsshfs/upgrade?remote=vieux%2Fsshfs'],
    ['GET', '/v1.41/plugins/privileges?remote=vieux%2Fsshfs'],
    ['POST', '/images/create?fromImage=alpine'],
  ] as const) {
    const answer = await ask(method, uri);
    expect(answer.Allow, `${method} ${uri}`).toBeFalsy();
    expect(answer.Msg).toMatch(/never contacts an image registry.*kmslab build --images/);
  }
});

test('local work is allowed: import, save, create, build from local images', async () => {
  for (const [method, uri] of [
    ['POST', '/v1.41/images/create?fromSrc=-&repo=kmslab%2Frootfs'],
    ['GET', '/v1.41/images/get?names=registry.k8s.io%2Fpause%3A3.10.2'],
    ['POST', '/v1.41/containers/create?name=n'],
    ['POST', '/v1.41/build?t=x'],
    ['POST', '/v1.41/build?t=x&pull=0'],
    ['POST', '/v1.41/build?t=x&pull=false'],
    ['GET', '/v1.41/plugins'],
    ['GET', '/_ping'],
  ] as const) {
    expect((await ask(method, uri)).Allow, `${method} ${uri}`).toBe(true);
  }
});
