import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { engineStatus, type EngineStatus } from '../harness/engine/docker-engine.js';
import { installEngineProgram } from '../harness/engine/engine-programs.js';
import {
  GELF_LOGS,
  NFS_MOUNT_CONTAINER,
  NFS_VOLUME,
  volumeMountContainer,
} from '../harness/engine/no-pull.fixtures.js';
import { auditPulls } from '../harness/engine/pull-audit.js';
import { whyNotRootOwned } from '../harness/engine/root-owned.js';
import { kmslab } from './support/cli.js';

// Every way into the engine that could make dockerd contact a registry or another host, driven through the real
// dockerd over its unix socket as raw HTTP (query strings, form-encoded, multipart and JSON bodies, chunked, under
// several API version prefixes): each must come back 403 from kmslab's no-pull plugin, while local work (import,
// build, save, load, create) still works, dockerd makes no outbound connection (strace on dockerd and its
// containerd), and nothing reaches the plugin's proxy trap. Then: every program the root-run dockerd executes is
// where only root can write it. Needs the engine `kmslab engine start` starts (CI's .ci/run does).
const status: EngineStatus = await engineStatus().catch(() => ({
  answering: false,
  startedByKmslab: false,
  runtimes: [],
}));
const authz = status.answering
  ? String((await execa('docker', ['info', '--format', '{{json .Plugins.Authorization}}'], { reject: false })).stdout)
  : '';
const withPlugin = authz.includes('kmslab-no-pull');
const ours = status.record !== undefined && withPlugin;
const why = ours
  ? ''
  : status.answering
    ? ' [skipped: the engine answering `docker info` was not started by kmslab engine start, so it has no no-pull plugin]'
    : ' [skipped: no container engine answers `docker info`; kmslab engine start starts one]';
const inCi = Boolean(process.env.CI);
const socketPath = process.env.DOCKER_HOST?.startsWith('unix://')
  ? process.env.DOCKER_HOST.slice('unix://'.length)
  : '/var/run/docker.sock';
const strace = (await execa('sh', ['-c', 'command -v strace'], { reject: false })).exitCode === 0;
const isRoot = process.getuid?.() === 0;

interface Probe {
  method: string;
  path: string;
  headers?: Array<[string, string]>;
  body?: string | Buffer;
  chunked?: boolean;
}

/**
 * send speaks HTTP/1.1 to dockerd by hand, so nothing (a client library, a proxy) normalises the request. A body
 * over 64 KiB waits for `100 Continue`: dockerd may refuse such a request without reading its body and close the
 * connection, and a client still writing would lose the answer to the reset.
 */
function send(p: Probe): Promise<{ status: number; text: string }> {
  const body = typeof p.body === 'string' ? Buffer.from(p.body) : (p.body ?? Buffer.alloc(0));
  const head = [`${p.method} ${p.path} HTTP/1.1`, 'Host: docker', 'Connection: close'];
  for (const [k, v] of p.headers ?? []) head.push(`${k}: ${v}`);
  head.push(p.chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${body.length}`);
  const payload = p.chunked
    ? Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')])
    : body;
  const waitForContinue = payload.length > 65_536;
  if (waitForContinue) head.push('Expect: 100-continue');
  const start = Buffer.from(head.join('\r\n') + '\r\n\r\n');
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    let bodySent = !waitForContinue;
    const s = connect(socketPath, () => (waitForContinue ? s.write(start) : s.end(Buffer.concat([start, payload]))));
    const done = () => {
      const text = received.toString('latin1');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
      if (Number.isNaN(status)) reject(new Error(`no HTTP answer to ${p.method} ${p.path}: ${text.slice(0, 200)}`));
      else resolve({ status, text: text.slice(text.indexOf('\r\n\r\n') + 4) });
    };
    s.on('data', (c: Buffer) => {
      received = Buffer.concat([received, c]);
      const interim = /^HTTP\/1\.1 100 [^\r]*\r\n\r\n/.exec(received.toString('latin1'));
      if (!bodySent && interim) {
        received = received.subarray(interim[0].length);
        s.end(payload);
        bodySent = true;
      } else if (!bodySent && /\r\n\r\n/.test(received.toString('latin1'))) {
        s.end();
        bodySent = true;
      }
    });
    s.on('end', done);
    s.on('error', (e) => (received.length ? done() : reject(new Error(`${p.method} ${p.path}: ${e.message}`))));
  });
}

const FORM: [string, string] = ['Content-Type', 'application/x-www-form-urlencoded'];
const JSON_TYPE: [string, string] = ['Content-Type', 'application/json'];
const MULTIPART: [string, string] = ['Content-Type', 'multipart/form-data; boundary=kmslab'];
const multipartBody = (fields: Record<string, string>) =>
  Object.entries(fields)
    .map(([k, v]) => `--kmslab\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`)
    .join('') + '--kmslab--\r\n';
const json = (v: unknown) => JSON.stringify(v);
const gelf = GELF_LOGS;

// Each way in, with what the refusal must name. Sent under no version prefix (the newest), /v1.41 and /v1.24.
const REFUSED: Array<[string, Probe, RegExp]> = [
  ['pull, query', { method: 'POST', path: '/images/create?fromImage=alpine&tag=latest' }, /image pull of alpine/],
  [
    'pull, form body',
    { method: 'POST', path: '/images/create?fromSrc=-', headers: [FORM], body: 'fromImage=alpine&tag=latest' },
    /form-urlencoded body/,
  ],
  [
    'pull, form body, chunked',
    { method: 'POST', path: '/images/create?fromSrc=-', headers: [FORM], body: 'fromImage=alpine', chunked: true },
    /form-urlencoded body/,
  ],
  [
    'pull, multipart body',
    {
      method: 'POST',
      path: '/images/create?fromSrc=-',
      headers: [MULTIPART],
      body: multipartBody({ fromImage: 'alpine' }),
    },
    /multipart\/form-data body/,
  ],
  [
    'pull past the 10,000th query parameter',
    {
      method: 'POST',
      path: `/images/create?${Array.from({ length: 10_001 }, (_, i) => `p${i}=1`).join('&')}&fromImage=alpine`,
    },
    /cannot read completely/,
  ],
  [
    'import from a URL',
    { method: 'POST', path: '/images/create?fromSrc=http%3A%2F%2F192.0.2.1%2Fr.tar' },
    /import from/,
  ],
  ['registry lookup', { method: 'GET', path: '/distribution/alpine/json' }, /registry lookup/],
  ['push', { method: 'POST', path: '/images/alpine/push?tag=latest' }, /image push/],
  [
    'login',
    {
      method: 'POST',
      path: '/auth',
      headers: [JSON_TYPE],
      body: json({ username: 'u', password: 'not-a-secret', serveraddress: 'registry.example' }),
    },
    /registry login/,
  ],
  ['search', { method: 'GET', path: '/images/search?term=alpine' }, /registry search/],
  [
    'build, remote context in the query',
    {
      method: 'POST',
      path: '/build?remote=https%3A%2F%2F192.0.2.1%2Fctx.tar',
      headers: [['Content-Type', 'application/x-tar']],
    },
    /remote context/,
  ],
  [
    'build, git context in a form body',
    { method: 'POST', path: '/build', headers: [FORM], body: 'remote=git%3A%2F%2F192.0.2.1%2Fr' },
    /form-urlencoded body/,
  ],
  ['build, pull in the query', { method: 'POST', path: '/build?t=x&pull=1' }, /pulls its base image/],
  [
    'build, pull in a multipart body',
    { method: 'POST', path: '/build?t=x', headers: [MULTIPART], body: multipartBody({ pull: '1' }) },
    /multipart\/form-data body/,
  ],
  ['build with BuildKit', { method: 'POST', path: '/build?t=x&version=2&session=s' }, /BuildKit/],
  [
    'BuildKit control API',
    {
      method: 'POST',
      path: '/grpc',
      headers: [
        ['Upgrade', 'h2c'],
        ['Connection', 'Upgrade'],
      ],
    },
    /BuildKit/,
  ],
  [
    'BuildKit session',
    {
      method: 'POST',
      path: '/session',
      headers: [
        ['Upgrade', 'h2c'],
        ['X-Docker-Expose-Session-Uuid', 'kmslab'],
        ['X-Docker-Expose-Session-Name', 'kmslab'],
      ],
    },
    /BuildKit/,
  ],
  [
    'swarm init',
    { method: 'POST', path: '/swarm/init', headers: [JSON_TYPE], body: json({ ListenAddr: '127.0.0.1:2377' }) },
    /swarm/,
  ],
  [
    'swarm join',
    {
      method: 'POST',
      path: '/swarm/join',
      headers: [JSON_TYPE],
      body: json({ RemoteAddrs: ['192.0.2.1:2377'], ListenAddr: '127.0.0.1:2377' }),
    },
    /swarm/,
  ],
  [
    'service create',
    {
      method: 'POST',
      path: '/services/create',
      headers: [JSON_TYPE],
      body: json({ Name: 's', TaskTemplate: { ContainerSpec: { Image: 'alpine' } } }),
    },
    /swarm service/,
  ],
  [
    'service update',
    { method: 'POST', path: '/services/s/update?version=1', headers: [JSON_TYPE], body: '{}' },
    /swarm service/,
  ],
  [
    'plugin install',
    { method: 'POST', path: '/plugins/pull?remote=vieux%2Fsshfs', headers: [JSON_TYPE], body: '[]' },
    /plugin/,
  ],
  ['plugin privileges', { method: 'GET', path: '/plugins/privileges?remote=vieux%2Fsshfs' }, /plugin/],
  [
    'plugin upgrade',
    { method: 'POST', path: '/plugins/p/upgrade?remote=vieux%2Fsshfs', headers: [JSON_TYPE], body: '[]' },
    /plugin/,
  ],
  ['plugin push', { method: 'POST', path: '/plugins/p/push' }, /plugin/],
  [
    'container logging to another host',
    {
      method: 'POST',
      path: '/containers/create',
      headers: [JSON_TYPE],
      body: json({ Image: 'x', HostConfig: { LogConfig: gelf } }),
    },
    /log driver \W+gelf/,
  ],
  [
    'container logging to another host, chunked',
    {
      method: 'POST',
      path: '/containers/create',
      headers: [JSON_TYPE],
      body: json({ Image: 'x', HostConfig: { LogConfig: gelf } }),
      chunked: true,
    },
    /log driver \W+gelf/,
  ],
  [
    'container logging to another host, deprecated top-level HostConfig fields',
    {
      method: 'POST',
      path: '/containers/create',
      headers: [JSON_TYPE],
      body: json({ Image: 'x', LogConfig: { Type: 'syslog', Config: { 'syslog-address': 'tcp://192.0.2.1:514' } } }),
    },
    /log driver \W+syslog/,
  ],
  [
    'container body over 1 MiB (dockerd does not forward it)',
    {
      method: 'POST',
      path: '/containers/create',
      headers: [JSON_TYPE],
      body: json({ Image: 'x', Labels: { pad: 'x'.repeat(1_100_000) }, HostConfig: { LogConfig: gelf } }),
    },
    /cannot see/,
  ],
  [
    'container mounting an NFS volume',
    { method: 'POST', path: '/containers/create', headers: [JSON_TYPE], body: json(NFS_MOUNT_CONTAINER) },
    /filesystem type nfs/,
  ],
  [
    'NFS volume',
    { method: 'POST', path: '/volumes/create', headers: [JSON_TYPE], body: json(NFS_VOLUME) },
    /filesystem type nfs/,
  ],
];
const PREFIXES = ['', '/v1.41', '/v1.24'];

const DENIED =
  /authorization denied by plugin kmslab-no-pull: kmslab: this engine never contacts an image registry or another host \(/;

test.runIf(inCi && !ours)('CI has the engine kmslab starts, with its no-pull plugin', () => {
  expect.fail(`no engine started by kmslab engine start answers in CI (${why.trim()}): .ci/run starts one`);
});

describe.skipIf(!ours)(`the engine refuses every way to a registry or another host${why}`, () => {
  const record = status.record!;
  const since = new Date();
  const scratch = mkdtempSync(join(tmpdir(), 'kmslab-no-pull-engine-'));
  const tag = `kmslab-probe/tiny:${process.pid}`;
  let tracer: ChildProcess | undefined;
  const traceFile = join(scratch, 'connect.strace');
  let refusedSent = 0;

  beforeAll(async () => {
    if (!strace) return;
    // Every connect/sendto of dockerd and containerd (all threads, and whatever they start) while the probes run.
    const pids = [record.dockerd.pid, ...(await pidsNamed('containerd'))];
    tracer = spawn(
      'strace',
      [
        '-f',
        '-qq',
        '-e',
        'trace=connect,sendto,sendmsg,accept4',
        '-o',
        traceFile,
        ...pids.flatMap((p) => ['-p', String(p)]),
      ],
      {
        stdio: 'ignore',
      },
    );
    for (let i = 0; i < 50 && !existsSync(traceFile); i++) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 500));
  });

  afterAll(async () => {
    if (tracer?.exitCode === null) tracer.kill('SIGINT');
    await execa(
      'docker',
      ['rm', '-f', `kmslab-probe-a-${process.pid}`, `kmslab-probe-b-${process.pid}`, `kmslab-probe-c-${process.pid}`],
      { reject: false },
    );
    await execa('docker', ['rmi', '-f', tag, `${tag}-built`], { reject: false });
    rmSync(scratch, { recursive: true, force: true });
  });

  test.each(REFUSED)('refused: %s', async (_name, probe, reason) => {
    for (const prefix of PREFIXES) {
      const answer = await send({ ...probe, path: prefix + probe.path });
      refusedSent++;
      expect(answer.status, `${probe.method} ${prefix}${probe.path.slice(0, 80)}: ${answer.text.slice(0, 300)}`).toBe(
        403,
      );
      expect(answer.text).toMatch(DENIED);
      expect(answer.text).toMatch(reason);
    }
  });

  test('refused before API 1.24: a start whose body carries a HostConfig with a remote log driver', async () => {
    const answer = await send({
      method: 'POST',
      path: '/v1.23/containers/kmslab-none/start',
      headers: [JSON_TYPE],
      body: json({ LogConfig: gelf }),
    });
    refusedSent++;
    expect(answer.status).toBe(403);
    expect(answer.text).toMatch(DENIED);
  });

  test('local work goes on: import, create (a missing image is not pulled), build, save, load', async () => {
    const rootfs = join(scratch, 'rootfs');
    await execa('mkdir', ['-p', rootfs]);
    writeFileSync(join(rootfs, 'hello'), 'hello\n');
    const tar = (await execa('tar', ['-C', rootfs, '-c', '.'], { encoding: 'buffer' })).stdout as Uint8Array;
    const [repo, version] = tag.split(':') as [string, string];
    const imported = await send({
      method: 'POST',
      path: `/v1.41/images/create?fromSrc=-&repo=${encodeURIComponent(repo)}&tag=${version}`,
      headers: [['Content-Type', 'text/plain']],
      body: Buffer.from(tar),
      chunked: true,
    });
    expect(imported.status, imported.text).toBe(200);
    expect(imported.text).toMatch(/"status":"sha256:[0-9a-f]{64}"/);

    const missing = await send({
      method: 'POST',
      path: '/v1.41/containers/create',
      headers: [JSON_TYPE],
      body: json({ Image: 'kmslab-probe/not-here:1' }),
    });
    expect(missing.status).toBe(404);
    expect(missing.text).toMatch(/No such image: kmslab-probe\/not-here:1/);

    // json-file logs and a volume the local driver keeps in memory: nothing leaves the machine.
    const local = volumeMountContainer(tag, { type: 'tmpfs', device: 'tmpfs' });
    const created = await send({
      method: 'POST',
      path: `/containers/create?name=kmslab-probe-c-${process.pid}`,
      headers: [JSON_TYPE],
      body: json({
        ...local,
        Cmd: ['/hello'],
        HostConfig: { ...local.HostConfig, LogConfig: { Type: 'json-file', Config: { 'max-size': '1m' } } },
      }),
    });
    expect(created.status, created.text).toBe(201);

    // The classic builder on a local base image, as kmslab builds the fake KMS image.
    const context = join(scratch, 'context');
    await execa('mkdir', ['-p', context]);
    writeFileSync(join(context, 'Dockerfile'), `FROM ${tag}\nLABEL io.kmslab.probe=1\n`);
    const contextTar = (await execa('tar', ['-C', context, '-c', '.'], { encoding: 'buffer' })).stdout as Uint8Array;
    const built = await send({
      method: 'POST',
      path: `/v1.41/build?t=${encodeURIComponent(`${tag}-built`)}&rm=1`,
      headers: [['Content-Type', 'application/x-tar']],
      body: Buffer.from(contextTar),
    });
    expect(built.status).toBe(200);
    expect(built.text).toMatch(/Successfully built/);

    const saved = await execa('docker', ['save', tag], { encoding: 'buffer' });
    expect(saved.stdout.length).toBeGreaterThan(1024);
    const loaded = await execa('docker', ['load'], { input: Buffer.from(saved.stdout as Uint8Array) });
    expect(String(loaded.stdout)).toContain(`Loaded image: ${tag}`);
  });

  // The one thing no authorization plugin can see (docs/containers.md): dockerd flattens repeated headers for
  // its plugins (the last value wins) but parses a form body under the first. What this lets through can only
  // leave through the proxy (pulls, downloads: the trap) or git (GIT_ALLOW_PROTOCOL=none).
  test('measured: dockerd reads a form body under the first of two Content-Type headers', async () => {
    const created = await send({
      method: 'POST',
      path: `/containers/create?name=kmslab-probe-a-${process.pid}`,
      headers: [JSON_TYPE],
      body: json({ Image: tag, Cmd: ['/hello'] }),
    });
    expect(created.status, created.text).toBe(201);
    const renamed = await send({
      method: 'POST',
      path: `/containers/kmslab-probe-a-${process.pid}/rename`,
      headers: [FORM, ['Content-Type', 'text/plain']],
      body: `name=kmslab-probe-b-${process.pid}`,
    });
    expect(renamed.status).toBe(204);
    const name = await execa('docker', ['inspect', '--format', '{{.Name}}', `kmslab-probe-b-${process.pid}`]);
    expect(String(name.stdout)).toBe(`/kmslab-probe-b-${process.pid}`);
    const environ = readFileSync(`/proc/${record.dockerd.pid}/environ`, 'utf8').split('\0');
    expect(environ).toContain(`HTTPS_PROXY=${record.trap}`);
    expect(environ).toContain('GIT_ALLOW_PROTOCOL=none');
  });

  test.skipIf(!strace)(
    `dockerd and containerd made no outbound connection attempt${strace ? '' : ' [skipped: strace is not installed]'}`,
    async () => {
      tracer!.kill('SIGINT');
      await new Promise((r) => tracer!.once('exit', r));
      const trace = readFileSync(traceFile, 'utf8').split('\n');
      // strace saw the probes arrive: one accepted connection per request sent above.
      expect(trace.filter((l) => /accept4\(/.test(l) && !/= -1/.test(l)).length).toBeGreaterThanOrEqual(refusedSent);
      const outbound = trace.filter((l) => {
        const addr = /inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)"/.exec(l);
        const ip = addr?.[1] ?? addr?.[2];
        return ip !== undefined && !/^127\.|^::1$|^::ffff:127\./.test(ip) && /^\d+ +(connect|sendto|sendmsg)\(/.test(l);
      });
      expect(outbound).toEqual([]);
    },
  );

  test('the engine’s logs show every probe refused and no pull attempt, and nothing reached the proxy trap', async () => {
    const audit = await auditPulls(since);
    expect(audit.refused).toBeGreaterThanOrEqual(refusedSent);
    expect(audit.apiCalls).toBeGreaterThan(refusedSent);
    expect(audit.pullAttempts).toEqual([]);
  });
});

// Read from the running processes, not from kmslab's record: it holds for any engine with kmslab's plugin.
describe.skipIf(!withPlugin)(
  `what the root-run dockerd executes is where only root can write${withPlugin ? '' : why}`,
  () => {
    test('dockerd, its config and PATH, containerd, the shims, the runtimes and the plugin pass the rule', async () => {
      const [dockerd] = await pidsNamed('dockerd');
      const checked: string[] = [];
      const check = async (path: string, kind: 'file' | 'directory') => {
        checked.push(path);
        expect(await whyNotRootOwned(path, kind), path).toBeUndefined();
      };
      const cmdline = readFileSync(`/proc/${dockerd}/cmdline`, 'utf8').split('\0');
      await check(cmdline[cmdline.indexOf('--config-file') + 1]!, 'file');
      const environ = readFileSync(`/proc/${dockerd}/environ`, 'utf8').split('\0');
      const path = environ.find((e) => e.startsWith('PATH='))!.slice(5);
      for (const dir of path.split(':')) await check(dir, 'directory');
      // The plugin is whatever listens on the socket dockerd asks (its command name is cut to 15 characters).
      const listener = String((await execa('ss', ['-xlpn'])).stdout)
        .split('\n')
        .find((l) => l.includes('/run/docker/plugins/kmslab-no-pull.sock'));
      const plugin = Number(/pid=(\d+)/.exec(listener ?? '')?.[1]);
      expect(plugin, 'the process serving /run/docker/plugins/kmslab-no-pull.sock').toBeGreaterThan(0);
      const pids = ['dockerd', 'containerd', 'containerd-shim'].map(pidsNamed);
      for (const pid of [plugin, ...(await Promise.all(pids)).flat()])
        await check(await execa('readlink', [`/proc/${pid}/exe`]).then((r) => String(r.stdout)), 'file');
      const runtimes = JSON.parse(
        String((await execa('docker', ['info', '--format', '{{json .Runtimes}}'])).stdout),
      ) as Record<string, { path: string }>;
      for (const { path: runtime } of Object.values(runtimes)) {
        const resolved = runtime.startsWith('/')
          ? runtime
          : String((await execa('sh', ['-c', 'command -v "$1"', 'sh', runtime], { env: { PATH: path } })).stdout);
        await check(await execa('readlink', ['-f', resolved]).then((r) => String(r.stdout)), 'file');
      }
      expect(checked.some((p) => p.includes('kmslab-runc'))).toBe(true);
      expect(checked.some((p) => p.includes('kmslab-no-pull'))).toBe(true);
    });
  },
);

describe.skipIf(!isRoot)('the ownership rule is enforced where kmslab installs those programs', () => {
  const saved = process.env.KMSLAB_ENGINE_DIR;
  afterAll(() => {
    if (saved === undefined) delete process.env.KMSLAB_ENGINE_DIR;
    else process.env.KMSLAB_ENGINE_DIR = saved;
  });

  test('engine start refuses an engine directory a user could write, before starting anything', async () => {
    const scratch = mkdtempSync(join(tmpdir(), 'kmslab-engine-dir-'));
    try {
      const r = await kmslab(['engine', 'start'], {
        env: { KMSLAB_ENGINE_DIR: join(scratch, 'engine'), DOCKER_HOST: `unix://${join(scratch, 'docker.sock')}` },
      });
      expect(r.exitCode).toBe(1);
      expect(String(r.stderr)).toMatch(
        /kmslab's engine directory \(.*\/engine\) must be where only root can write it .*: \/tmp is writable by everyone \(mode 1777\)\. Fix the ownership/,
      );
      expect(existsSync(join(scratch, 'engine'))).toBe(false);
      expect(existsSync(join(scratch, 'docker.sock'))).toBe(false);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  test('a program there that a user could have replaced is refused, not used', async () => {
    const dir = `/var/lib/kmslab/test-${process.pid}`;
    process.env.KMSLAB_ENGINE_DIR = dir;
    try {
      const installed = await installEngineProgram('no-pull', 'kmslab-no-pull');
      expect(installed).toMatch(new RegExp(`^${dir}/bin/kmslab-no-pull-[0-9a-f]{12}$`));
      expect(await whyNotRootOwned(installed, 'file')).toBeUndefined();
      expect(await installEngineProgram('no-pull', 'kmslab-no-pull')).toBe(installed);
      chownSync(installed, 65534, 65534);
      await expect(installEngineProgram('no-pull', 'kmslab-no-pull')).rejects.toThrow(
        /is owned by uid 65534, not root/,
      );
      chownSync(installed, 0, 0);
      chmodSync(installed, 0o775);
      await expect(installEngineProgram('no-pull', 'kmslab-no-pull')).rejects.toThrow(
        /is writable by its group \(mode 0775\)/,
      );
      chmodSync(`${dir}/bin`, 0o777);
      await expect(installEngineProgram('no-pull', 'kmslab-no-pull')).rejects.toThrow(/\/bin is writable by everyone/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** pidsNamed: processes whose command name (15 characters at most, as the kernel keeps it) is `name`. */
async function pidsNamed(name: string): Promise<number[]> {
  const r = await execa('pgrep', ['-x', name], { reject: false });
  return String(r.stdout).split('\n').filter(Boolean).map(Number);
}
