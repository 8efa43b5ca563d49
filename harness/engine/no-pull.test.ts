import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { GELF_LOGS, NFS_MOUNT_CONTAINER, NFS_VOLUME, volumeMountContainer } from './no-pull.fixtures.js';
import { buildOwnProgram, NO_PULL_PLUGIN } from './runtime-wrapper.js';

// The real kmslab-no-pull binary, spoken to over its socket exactly as dockerd does (the Docker plugin protocol:
// AuthZReq carries the method, the request target, the headers flattened to their last value, and the body in
// base64 when dockerd forwards it). Each route is asked both ways: what could reach out is refused, local work is not.
const dir = mkdtempSync(join(tmpdir(), 'kmslab-no-pull-'));
const socket = join(dir, 'p.sock');
const trapFile = join(dir, 'trap');
const log = join(dir, 'plugin.log');
let stop: () => void;

beforeAll(async () => {
  const out = openSync(log, 'a');
  const child = spawn(await buildOwnProgram('no-pull', NO_PULL_PLUGIN), [socket, trapFile], {
    stdio: ['ignore', out, out],
  });
  stop = () => child.kill('SIGTERM');
  for (let i = 0; i < 200 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 50));
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

interface Ask {
  headers?: Record<string, string>;
  /** What dockerd forwards: a JSON body (under 1 MiB, sent as application/json with a length). */
  body?: unknown;
}
const ask = (RequestMethod: string, RequestURI: string, o: Ask = {}) =>
  call('/AuthZPlugin.AuthZReq', {
    User: '',
    RequestMethod,
    RequestURI,
    RequestHeaders: o.headers ?? {},
    ...(o.body === undefined
      ? {}
      : { RequestBody: Buffer.from(typeof o.body === 'string' ? o.body : JSON.stringify(o.body)).toString('base64') }),
  });
const JSON_HEADERS = { 'Content-Type': 'application/json', 'Content-Length': '100' };

async function expectRefused(method: string, uri: string, o: Ask = {}, why?: RegExp) {
  const answer = await ask(method, uri, o);
  expect(answer.Allow, `${method} ${uri} ${JSON.stringify(o)}`).toBeFalsy();
  expect(answer.Msg).toMatch(/never contacts an image registry or another host.*kmslab build --images/);
  if (why) expect(answer.Msg).toMatch(why);
}
/** A JSON route whose body dockerd did not forward (chunked on 20.10, 1 MiB or more, or another type). */
const expectUnseen = (uri: string) =>
  expectRefused('POST', uri, { headers: { 'Content-Type': 'application/json' } }, /cannot see/);
async function expectAllowed(method: string, uri: string, o: Ask = {}) {
  const answer = await ask(method, uri, o);
  expect(answer, `${method} ${uri} ${JSON.stringify(o)}`).toEqual({ Allow: true });
}

// Every prefix dockerd routes: none (the newest version), and /v<digits and dots>.
const versionPrefix = fc.oneof(
  fc.constant(''),
  fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 60 })).map(([a, b]) => `/v${a}.${b}`),
  fc.constantFrom('/v1.41', '/v1.24', '/v1.12', '/v1', '/v1.51'),
);

test('it announces itself as an authorization plugin', async () => {
  expect(await call('/Plugin.Activate', {})).toEqual({ Implements: ['authz'] });
});

describe('routes that reach a registry or another host whatever they carry', () => {
  const ROUTES: Array<[string, string, RegExp]> = [
    ['GET', '/distribution/docker.io/library/alpine/json', /registry lookup/],
    ['POST', '/images/x/push?tag=1', /image push/],
    ['POST', '/images/registry.example.com%2Fx%2Fy/push', /image push/],
    ['POST', '/auth', /registry login/],
    ['GET', '/images/search?term=alpine', /registry search/],
    ['POST', '/plugins/pull?remote=vieux%2Fsshfs', /plugin install/],
    ['GET', '/plugins/privileges?remote=vieux%2Fsshfs', /plugin install/],
    ['POST', '/plugins/vieux%2Fsshfs/upgrade?remote=vieux%2Fsshfs', /plugin upgrade or push/],
    ['POST', '/plugins/vieux/sshfs:latest/push', /plugin upgrade or push/],
    ['POST', '/swarm/init', /swarm mode/],
    ['POST', '/swarm/join', /swarm mode/],
    ['POST', '/swarm/update?version=5', /swarm mode/],
    ['POST', '/services/create', /swarm service/],
    ['POST', '/services/abc123/update?version=4', /swarm service update/],
    ['POST', '/grpc', /BuildKit/],
    ['POST', '/session', /BuildKit/],
  ];

  test.each(ROUTES)('%s %s', async (method, route, why) => {
    await expectRefused(method, `/v1.41${route}`, {}, why);
    await expectRefused(method, route, {}, why);
  });

  test('under every API version prefix, in absolute form and with escaped path characters', async () => {
    await fc.assert(
      fc.asyncProperty(
        versionPrefix,
        fc.constantFrom(...ROUTES),
        fc.boolean(),
        fc.boolean(),
        async (prefix, [method, route], absolute, escaped) => {
          // dockerd routes on the decoded path, so %69 is an i and %2F a slash to it as well.
          const path = escaped
            ? route.replace(/^\/(\w)/, (_, c: string) => `/%${c.charCodeAt(0).toString(16)}`)
            : route;
          await expectRefused(method, `${absolute ? 'http://docker' : ''}${prefix}${path}`);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('POST /images/create: only an import from the request body', () => {
  test.each([
    'fromImage=kindest%2Fnode&tag=v1.37.2',
    'fromImage=alpine',
    'fromImage=&fromImage=alpine',
    'tag=1&fromImage=registry.k8s.io%2Fpause',
    'fromImage=alpine&fromSrc=-',
  ])('a pull is refused however its name is given: %s', async (q) => {
    await expectRefused('POST', `/v1.41/images/create?${q}`, {}, /image pull/);
  });

  test('an import from anywhere but the body downloads it', async () => {
    for (const q of [
      'fromSrc=http%3A%2F%2Fexample.com%2Frootfs.tar&repo=x',
      'fromSrc=example.com',
      'fromSrc=-&fromSrc=https%3A%2F%2Fexample.com%2Fx.tar',
    ]) {
      await expectRefused('POST', `/v1.41/images/create?${q}`, {}, /image import from/);
    }
    await expectRefused('POST', '/v1.41/images/create?repo=x', {}, /without fromSrc=-/);
  });

  test('a URL with credentials is not echoed', async () => {
    const answer = await ask('POST', '/images/create?fromSrc=https%3A%2F%2Fuser%3Ahunter2%40example.com%2Fx.tar');
    expect(answer.Msg).not.toContain('hunter2');
    expect(readFileSync(log, 'utf8')).not.toContain('hunter2');
  });

  test('parameters in a body dockerd reads as a form are refused: the plugin is never shown that body', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('application/x-www-form-urlencoded', 'multipart/form-data; boundary=x'),
        fc.constantFrom('', '; charset=utf-8'),
        fc.boolean(),
        versionPrefix,
        async (type, params, upper, prefix) => {
          const ct = upper ? (type + params).toUpperCase() : type + params;
          for (const uri of [`${prefix}/images/create?fromSrc=-&repo=x`, `${prefix}/build?t=x`]) {
            await expectRefused('POST', uri, { headers: { 'Content-Type': ct } }, /body|Content-Type/);
          }
        },
      ),
      { numRuns: 60 },
    );
    await expectRefused('POST', '/images/create?fromSrc=-', { headers: { 'Content-Type': 'a/b; =' } }, /unparsable/);
  });

  test('a query the plugin cannot read completely is refused (dockerd’s Go may read more of it)', async () => {
    // Go ≥ 1.24 reads no parameter past the 10,000th (dockerd 20.10's Go 1.19 reads them all).
    const many = Array.from({ length: 10_001 }, (_, i) => `p${i}=1`).join('&');
    await expectRefused('POST', `/v1.41/images/create?${many}&fromImage=alpine`, {}, /cannot read completely/);
    await expectRefused('POST', `/v1.41/build?${many}&pull=1`, {}, /cannot read completely/);
    await expectRefused('POST', '/v1.41/images/create?fromSrc=-;fromImage=alpine', {}, /cannot read completely/);
    await expectRefused('POST', '/v1.41/images/create?fromSrc=-&%zz=1', {}, /cannot read completely/);
  });

  test('docker import - is allowed, whatever non-form type its body has', async () => {
    const types: Array<Record<string, string>> = [
      {},
      { 'Content-Type': 'text/plain' },
      { 'Content-Type': 'application/x-tar' },
    ];
    for (const headers of types) {
      await expectAllowed('POST', '/v1.41/images/create?fromSrc=-&repo=kmslab%2Frootfs&tag=x', { headers });
      await expectAllowed('POST', '/images/create?fromSrc=-&repo=x&message=m&changes=LABEL+a%3Db', { headers });
    }
  });
});

describe('POST /build: the classic builder on a context in the body', () => {
  test('pulling, remote contexts and BuildKit are refused', async () => {
    for (const [q, why] of [
      ['t=x&pull=1', /pulls its base image/],
      ['t=x&pull=True', /pulls its base image/],
      ['t=x&pull=on', /pulls its base image/],
      ['t=x&pull=%20yes%20', /pulls its base image/],
      ['t=x&pull=0&pull=1', /pulls its base image/],
      ['t=x&remote=https%3A%2F%2Fexample.com%2Fctx.tar', /remote context/],
      ['remote=git%3A%2F%2Fexample.com%2Frepo', /remote context/],
      ['remote=git%40github.com%3Ax%2Fy.git', /remote context/],
      ['remote=github.com%2Fx%2Fy', /remote context/],
      ['remote=client-session&session=abc', /remote context/],
      ['t=x&version=2&session=abc', /BuildKit/],
      ['t=x&version=1&version=2', /BuildKit/],
    ] as const) {
      await expectRefused('POST', `/v1.41/build?${q}`, { headers: { 'Content-Type': 'application/x-tar' } }, why);
    }
  });

  test.each([
    't=x',
    't=x&pull=0',
    't=x&pull=false',
    't=x&pull=no',
    't=x&version=1',
    't=x&remote=',
    't=x&cachefrom=%5B%22kmslab%2Frootfs%3Ax%22%5D',
    't=x&buildargs=%7B%22A%22%3A%221%22%7D&labels=%7B%7D&networkmode=none',
  ])('a local build is allowed, with its local cache sources: %s', async (q) => {
    await expectAllowed('POST', `/v1.41/build?${q}`, { headers: { 'Content-Type': 'application/x-tar' } });
  });
});

describe('POST /containers/create: the engine’s own outbound paths in the container’s config', () => {
  const create = (body: unknown, uri = '/v1.41/containers/create?name=n') => ({
    uri,
    o: { headers: JSON_HEADERS, body },
  });

  test('log drivers that ship logs to another host are refused, at either place dockerd reads them', async () => {
    for (const type of ['gelf', 'syslog', 'fluentd', 'splunk', 'awslogs', 'gcplogs', 'logentries', 'my/plugin']) {
      const lc = { ...GELF_LOGS, Type: type };
      for (const body of [
        { Image: 'x', HostConfig: { LogConfig: lc } },
        { Image: 'x', LogConfig: lc },
      ]) {
        const { uri, o } = create(body);
        await expectRefused('POST', uri, o, /log driver/);
      }
    }
  });

  test('the JSON is read as dockerd reads it: names in any case, repeated names, every version prefix', async () => {
    const anyCase = (s: string) =>
      fc
        .array(fc.boolean(), { minLength: s.length, maxLength: s.length })
        .map((up) => [...s].map((c, i) => (up[i] ? c.toUpperCase() : c.toLowerCase())).join(''));
    await fc.assert(
      fc.asyncProperty(
        anyCase('HostConfig'),
        anyCase('LogConfig'),
        anyCase('Type'),
        fc.boolean(),
        versionPrefix,
        async (hc, lc, type, repeat, prefix) => {
          const inner = repeat ? `{"${type}":"gelf","${type}":"json-file"}` : `{"${type}":"gelf"}`;
          const body = repeat
            ? `{"Image":"x","${hc}":{"${lc}":${inner}},"${hc}":{"Memory":1}}`
            : `{"Image":"x","${hc}":{"${lc}":${inner}}}`;
          await expectRefused('POST', `${prefix}/containers/create`, { headers: JSON_HEADERS, body }, /log driver/);
        },
      ),
      { numRuns: 80 },
    );
  });

  test('volumes through another driver, or mounting another host, are refused', async () => {
    for (const body of [
      { Image: 'x', HostConfig: { VolumeDriver: 'convoy', Binds: ['data:/data'] } },
      { Image: 'x', VolumeDriver: 'convoy' },
      NFS_MOUNT_CONTAINER,
      {
        Image: 'x',
        HostConfig: {
          Mounts: [{ Type: 'volume', Target: '/d', VolumeOptions: { DriverConfig: { Options: { o: 'addr=nas' } } } }],
        },
      },
      { Image: 'x', HostConfig: { Mounts: [{ Type: 'cluster', Target: '/d', Source: 'v' }] } },
    ]) {
      const { uri, o } = create(body);
      await expectRefused('POST', uri, o, /volume|mount/);
    }
  });

  test('a body the plugin cannot see or read is refused', async () => {
    // dockerd forwards no body when it is chunked (20.10), 1 MiB or more, or not sent as application/json.
    await expectUnseen('/v1.41/containers/create');
    await expectRefused('POST', '/containers/create', {}, /cannot see/);
    await expectRefused('POST', '/containers/create', { headers: JSON_HEADERS, body: '{"Image":' }, /cannot read/);
  });

  test('containers as kind, compose and testcontainers create them are allowed, missing images included', async () => {
    for (const body of [
      { Image: 'kmslab/kind-node:v1.37.2', HostConfig: { Privileged: true, Binds: ['/lib/modules:/lib/modules:ro'] } },
      {
        Image: 'kmslab/etcd:v3.6.16',
        HostConfig: {
          LogConfig: { Type: 'json-file', Config: { 'max-size': '10m' } },
          Mounts: [
            { Type: 'bind', Source: '/tmp/x', Target: '/x' },
            { Type: 'volume', Source: 'data', Target: '/var/lib/etcd', VolumeOptions: {} },
            { Type: 'tmpfs', Target: '/run' },
          ],
          VolumeDriver: '',
          Runtime: 'kmslab',
        },
        Volumes: { '/var': {} },
      },
      { Image: 'not-here:1', HostConfig: { LogConfig: { Type: 'local' } } },
      { Image: 'x', HostConfig: null, LogConfig: null },
      volumeMountContainer('x', { type: 'tmpfs', device: 'tmpfs', o: 'size=1m' }),
    ]) {
      const { uri, o } = create(body);
      await expectAllowed('POST', uri, o);
    }
  });
});

describe('POST /volumes/create', () => {
  test('another driver or a network filesystem is refused', async () => {
    for (const body of [
      { Name: 'v', Driver: 'convoy' },
      { ...NFS_VOLUME, Driver: 'local' },
      { Name: 'v', DriverOpts: { type: 'cifs', device: '//nas/share' } },
      { Name: 'v', DriverOpts: { type: 'NFS4' } },
      { Name: 'v', DriverOpts: { o: 'addr=nas.example.com' } },
      { Name: 'v', driveropts: { TYPE: 'ceph' } },
    ]) {
      await expectRefused('POST', '/v1.41/volumes/create', { headers: JSON_HEADERS, body }, /volume/);
    }
    await expectUnseen('/v1.41/volumes/create');
  });

  test('local volumes are allowed', async () => {
    for (const body of [
      { Name: 'v' },
      { Name: 'v', Driver: 'local' },
      { Name: 'v', Driver: 'local', DriverOpts: { type: 'tmpfs', device: 'tmpfs', o: 'size=100m,uid=1000' } },
      { Name: 'v', DriverOpts: { type: 'none', o: 'bind', device: '/srv/data' } },
    ]) {
      await expectAllowed('POST', '/v1.41/volumes/create', { headers: JSON_HEADERS, body });
    }
  });
});

describe('POST /containers/{id}/start before API 1.24, which reads a HostConfig from the body', () => {
  test('a log driver there is refused, and so is a body the plugin cannot see', async () => {
    const body = { LogConfig: GELF_LOGS };
    await expectRefused('POST', '/v1.23/containers/abc/start', { headers: JSON_HEADERS, body }, /log driver/);
    await expectUnseen('/v1.12/containers/abc/start');
  });

  test('a start without a body, and every start from API 1.24 on (dockerd refuses their bodies), is allowed', async () => {
    await expectAllowed('POST', '/v1.23/containers/abc/start', { headers: { 'Content-Length': '0' } });
    await expectAllowed('POST', '/v1.23/containers/abc/start', { headers: { 'Content-Length': '2' }, body: {} });
    for (const v of ['/v1.24', '/v1.41', ''])
      await expectAllowed('POST', `${v}/containers/abc/start`, { headers: { 'Content-Type': 'application/json' } });
  });
});

test('local work is allowed: save, load, tag, commit, exec, copy, inspect, networks, events', async () => {
  for (const [method, uri] of [
    ['GET', '/v1.41/images/get?names=registry.k8s.io%2Fpause%3A3.10.2'],
    ['GET', '/v1.41/images/kmslab%2Frootfs/get'],
    ['POST', '/v1.41/images/load?quiet=1'],
    ['POST', '/v1.41/images/x/tag?repo=y&tag=1'],
    ['GET', '/v1.41/images/kmslab%2Fetcd%3Av3.6.16/json'],
    ['DELETE', '/v1.41/images/x?force=1'],
    ['POST', '/v1.41/commit?container=c&repo=r&changes=LABEL+a%3Db'],
    ['POST', '/v1.41/containers/c/exec'],
    ['POST', '/v1.41/exec/e/start'],
    ['PUT', '/v1.41/containers/c/archive?path=%2F'],
    ['POST', '/v1.41/containers/c/stop?t=1'],
    ['DELETE', '/v1.41/containers/c?force=1&v=1'],
    ['POST', '/v1.41/networks/create'],
    ['GET', '/v1.41/swarm'],
    ['GET', '/v1.41/plugins'],
    ['POST', '/v1.41/plugins/create?name=p'],
    ['GET', '/v1.41/events?filters=%7B%7D'],
    ['GET', '/v1.41/info'],
    ['GET', '/_ping'],
    ['HEAD', '/_ping'],
  ] as const) {
    await expectAllowed(method, uri);
  }
});

test('the trap answers dockerd’s proxy requests with a refusal and logs the host, never the credentials', async () => {
  const address = readFileSync(trapFile, 'utf8').trim();
  const [host, port] = [
    address.slice(0, address.lastIndexOf(':')),
    Number(address.slice(address.lastIndexOf(':') + 1)),
  ];
  expect(host).toBe('127.0.0.1');
  const answer = await new Promise<string>((resolve, reject) => {
    const s = connect(port, host, () =>
      s.write('CONNECT registry-1.docker.io:443 HTTP/1.1\r\nProxy-Authorization: Basic aHVudGVyMjpodW50ZXIy\r\n\r\n'),
    );
    let text = '';
    s.on('data', (c: Buffer) => (text += c.toString()));
    s.on('end', () => resolve(text));
    s.on('error', reject);
  });
  expect(answer).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n[\s\S]*never contacts another host/);
  const lines = readFileSync(log, 'utf8');
  expect(lines).toMatch(
    /^time="[^"]+" level=warning msg="outbound attempt through the proxy: CONNECT registry-1.docker.io:443"$/m,
  );
  expect(lines).not.toContain('aHVudGVy');
});
