// The bad-input probe: what a hostile or broken client does to the fake KMS, run against the real plugin process.
// Malformed and oversized gRPC calls, raw-socket garbage, bad control-API requests, bad CLI invocations; then the
// figures that must hold: the plugin still serves, every call is on the audit trail, memory, disk and descriptors
// stay bounded. Usage: npx tsx bench/hostile-probe.ts [scale=1]   (scale 1 ≈ the review's probe: 12k calls)
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, credentials, Metadata } from '@grpc/grpc-js';
import { execa } from 'execa';
import { KmsControlClient } from '../fake-kms/index.js';
import { packageRoot } from '../harness/common/paths.js';
import { ManagedProcess } from '../harness/process/managed-process.js';

const scale = Number(process.argv[2] ?? 1);
const dir = mkdtempSync(join(tmpdir(), 'kmslab-probe-'));
const socket = join(dir, 'kms', 'kms.sock');
const control = join(dir, 'kms', 'control.sock');
const audit = join(dir, 'audit.jsonl');
const plugin = await ManagedProcess.spawn({
  name: 'fake-kms',
  command: process.execPath,
  args: [
    join(packageRoot, 'bin/kmslab.js'),
    'fake-kms',
    'serve',
    `--socket=${socket}`,
    `--control=${control}`,
    `--state-dir=${join(dir, 'state')}`,
    `--audit=${audit}`,
    '--idle-seconds=5',
  ],
  logFile: join(dir, 'fake-kms.log'),
});
const ctl = new KmsControlClient(control, 10_000);
// However the probe ends, the plugin it started goes with it.
process.once('exit', () => {
  if (plugin.running) process.kill(-plugin.pid, 'SIGKILL');
});
await plugin.waitUntil(() => ctl.status(), { timeoutMs: 60_000, what: 'the plugin' });
const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${plugin.pid}/status`, 'utf8'))![1]) / 1024;
const fds = () => readdirSync(`/proc/${plugin.pid}/fd`).length;
const before = { rss: rss(), fds: fds() };

// 1. Malformed and oversized gRPC calls: random bytes, truncated messages, wrong field types, huge uids.
let raw = new Client(`unix://${socket}`, credentials.createInsecure());
const methods = ['Status', 'Encrypt', 'Decrypt'];
const call = (method: string, body: Buffer) =>
  new Promise<string>((resolve) =>
    raw.makeUnaryRequest(
      `/v2.KeyManagementService/${method}`,
      (b: Buffer) => b,
      (b: Buffer) => b,
      body,
      new Metadata(),
      { deadline: Date.now() + 10_000 },
      (error) => resolve(error ? String(error.code) : 'OK'),
    ),
  );
const bodies = (i: number): Buffer => {
  switch (i % 6) {
    case 0:
      return randomBytes(1 + (i % 200));
    case 1:
      return Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x7f]); // a length past the end
    case 2:
      return Buffer.from([0x12, 0x05, 0x61]); // truncated string
    case 3:
      return Buffer.concat([Buffer.from([0x12, 0x80, 0x80, 0x40]), Buffer.alloc(1024 * 1024, 0x75)]); // 1 MiB uid
    case 4:
      return Buffer.from([0x08, 0x01]); // field 1 as a varint where bytes are expected
    default:
      return Buffer.alloc(0);
  }
};
const grpcCalls = Math.round(12_000 * scale);
const outcomes = new Map<string, number>();
let sent = 0;
const t0 = Date.now();
await Promise.all(
  Array.from({ length: 32 }, async () => {
    while (sent < grpcCalls) {
      const i = sent++;
      const code = await call(methods[i % 3]!, bodies(i));
      outcomes.set(code, (outcomes.get(code) ?? 0) + 1);
    }
  }),
);
raw.close();
const grpcSeconds = (Date.now() - t0) / 1000;

// 2. Raw connections: HTTP/2 preface + empty SETTINGS + garbage + FIN, HTTP/1.1, random bytes, silence.
const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const settings = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);
const connections = Math.round(1240 * scale);
const sockets = Array.from({ length: connections }, (_, i) => {
  const s = createConnection(socket);
  s.on('error', () => undefined);
  const kind = i % 4;
  if (kind === 0) s.end(Buffer.concat([preface, settings, randomBytes(64)]));
  else if (kind === 1) s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  else if (kind === 2) s.write(randomBytes(256));
  return s;
});
await new Promise((r) => setTimeout(r, 1000));
const openDuring = fds() - before.fds;

// 3. Bad control-API requests: wrong methods and paths, broken JSON, invalid specs, oversized bodies.
const controlCall = (method: string, path: string, body?: Buffer | string) =>
  new Promise<number>((resolve) => {
    const req = request({ socketPath: control, method, path, timeout: 10_000, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    // The server answers an oversized body with 413 and closes while the body is still being sent: the rest of the
    // write fails with EPIPE on a socket the http client has already let go of.
    req.on('socket', (s) => s.on('error', () => undefined));
    req.on('timeout', () => req.destroy());
    req.end(body);
  });
const badControl: Array<[string, string, (Buffer | string)?]> = [
  ['DELETE', '/status'],
  ['PUT', '/keys/rotate'],
  ['GET', '/nope'],
  ['POST', '/faults', '{'],
  ['POST', '/faults', '{"kind":"error","code":"BOGUS"}'],
  ['POST', '/faults', '{"kind":"latency","ms":-1}'],
  ['POST', '/faults', '{"kind":"error","probability":"abc"}'],
  ['POST', '/keys/nope/disable'],
  ['POST', '/keys', '{"name":"Bad Name"}'],
  ['PUT', '/settings', '{"disabledKeyStatus":"maybe"}'],
  ['GET', '/audit?limit=-1'],
  ['POST', '/faults', Buffer.alloc(8 * 1024 * 1024, 0x20)],
];
const controlRequests = Math.round(2511 * scale);
const statuses = new Map<number, number>();
let dropped = 0;
for (let i = 0; i < controlRequests; i++) {
  const [m, p, b] = badControl[i % badControl.length]!;
  const status = await controlCall(m, p, b);
  statuses.set(status, (statuses.get(status) ?? 0) + 1);
  // An oversized body is answered 413 and the connection closed while the client still sends: the client may see
  // the reset before the answer. Any other request must get an answer.
  if (status === 0 && !(b && b.length > 64 * 1024)) dropped++;
}
for (const s of sockets) if (s.readyState === 'open' && sockets.indexOf(s) % 4 === 3) s.write(''); // stay silent

// 4. After the idle timeout every stray connection is gone; the plugin still serves a real call.
await new Promise((r) => setTimeout(r, 8000));
const openAfter = fds() - before.fds;
for (const s of sockets) s.destroy();
raw = new Client(`unix://${socket}`, credentials.createInsecure());
const status = await call('Status', Buffer.alloc(0));
const encrypt = await call(
  'Encrypt',
  Buffer.concat([Buffer.from([0x0a, 32]), randomBytes(32), Buffer.from([0x12, 36]), Buffer.from(randomUUID())]),
);
const counters = await ctl.counters();
const audited = Object.values(counters).reduce((n, c) => n + Object.values(c).reduce((a, b) => a + b, 0), 0);
const lines = readFileSync(audit, 'utf8').trim().split('\n').length;

// 5. Bad CLI invocations: exit 2 (usage) or 1 (failure), one line, never a stack trace.
const cli = [
  ['up', '--apiservers', '1000'],
  ['up', '--name', 'Bad_Name'],
  ['up', '--bogus'],
  ['kms', 'fault', 'error', '--code', 'BOGUS', '--control', control],
  ['kms', 'fault', 'error', '--probability', 'abc', '--control', control],
  ['kms', 'fault', 'latency', '--ms', '-5', '--control', control],
  ['kms', 'disable', 'nope', '--control', control],
  ['kms', 'fault', 'annotations', '--value', '{', '--control', control],
  ['inspect', '--etcd', 'not-a-url'],
  ['inspect', '--fail-on', 'sometimes', '--etcd', 'http://127.0.0.1:1'],
  ['restart', 'everything', '--name', 'nope'],
  ['status', '--name', 'no-such-lab'],
  ['run', 'no-such-scenario'],
  ['run', '--backend', 'moon'],
  ['fake-kms', 'serve'],
];
raw.close();
const cliResults = [];
for (const args of cli) {
  const r = await execa(process.execPath, [join(packageRoot, 'bin/kmslab.js'), ...args], { reject: false });
  cliResults.push({ args: args.join(' '), exit: r.exitCode, stack: /\n\s+at /.test(String(r.stderr)) });
}

const after = { rss: rss(), fds: fds() };
await plugin.stop();
console.log(`hostile probe on the fake KMS (scale ${scale}), plugin pid ${plugin.pid}`);
console.log(
  `gRPC: ${grpcCalls} malformed/oversized calls in ${grpcSeconds.toFixed(1)} s; answers by code ${JSON.stringify(Object.fromEntries(outcomes))}`,
);
console.log(
  `audit trail: ${audited} calls counted, ${lines} lines (incl. 2 real calls after the probe: Status ${status}, Encrypt ${encrypt})`,
);
console.log(
  `raw connections: ${connections} opened, +${openDuring} descriptors while open, +${openAfter} after the idle timeout`,
);
console.log(`control API: ${controlRequests} bad requests; statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
console.log(
  `CLI: ${cliResults.length} bad invocations; exit codes ${JSON.stringify(cliResults.map((r) => r.exit))}; stack traces: ${cliResults.filter((r) => r.stack).length}`,
);
console.log(
  `plugin RSS ${before.rss.toFixed(0)} → ${after.rss.toFixed(0)} MiB; audit file ${(statSync(audit).size / 1024).toFixed(0)} KiB`,
);
const failures = [
  audited !== grpcCalls + 2 && `audit counted ${audited}, expected ${grpcCalls + 2}`,
  openAfter > 2 && `${openAfter} descriptors still open after the idle timeout`,
  status !== 'OK' && 'Status failed after the probe',
  encrypt !== 'OK' && 'Encrypt failed after the probe',
  statuses.has(500) && 'control API answered 500',
  dropped > 0 && `control API dropped ${dropped} connections of small requests`,
  cliResults.some((r) => r.stack || (r.exit !== 1 && r.exit !== 2)) && 'a CLI invocation crashed or printed a stack',
].filter(Boolean);
console.log(failures.length ? `FAILURES:\n  ${failures.join('\n  ')}` : 'zero failures');
process.exitCode = failures.length ? 1 : 0;
