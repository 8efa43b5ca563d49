// Benchmark: Encrypt and Decrypt throughput of kmslab's fake KMS and of its KMS proxy, each with its audit trail
// written to a file (group commit: every answered call is on disk before its answer), against baselines measured
// in the same run, in interleaved rounds:
//   fake  vs bare         the fake KMS against a bare grpc-js server doing the same AES-256-GCM;
//   proxy vs hop          the proxy in front of a bare server against a bare grpc-js forwarder in front of one (the
//                         most a forwarding hop can do), and both against the bare server alone.
// The fake KMS and the proxy run compiled when dist/ exists (as installed), else from source.
// Besides calls/s it reports server CPU per call (all server processes), which a loaded machine disturbs less,
// and checks that each audit file holds every answered call after the server is SIGKILLed.
// Usage: npx tsx bench/fake-kms.ts [seconds=3] [rounds=7]
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, credentials } from '@grpc/grpc-js';
import { DecryptRequest, EncryptRequest, EncryptResponse } from '../gen/kms/v2/service.js';
import { median } from './median.js';

const seconds = Number(process.argv[2] ?? 3);
const ROUNDS = Number(process.argv[3] ?? 7);
const TARGET = 0.9;

type Setup = 'bare' | 'fake' | 'hop' | 'proxy';
type Method = 'Encrypt' | 'Decrypt';

interface Result {
  setup: Setup;
  method: Method;
  concurrency: number;
  perSecond: number;
  cpuMicrosPerCall: number;
  p50: number;
  p99: number;
}

function start(mode: Setup | 'bare', socket: string, dir: string, upstream?: string): Promise<ChildProcess> {
  const child = fork(join(import.meta.dirname, 'kms-server.ts'), [mode, socket, dir, ...(upstream ? [upstream] : [])], {
    execArgv: ['--import', 'tsx'],
    stdio: 'inherit',
  });
  return new Promise((resolve, reject) => {
    child.once('message', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`${mode} server exited ${code} before it was ready`)));
  });
}

function cpu(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve((m as { cpuMicros: number }).cpuMicros));
    child.send('cpu');
  });
}

async function measure(setup: Setup, method: Method, concurrency: number): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), 'kms-bench-'));
  const socket = join(dir, 'kms.sock');
  const servers: ChildProcess[] = [];
  try {
    if (setup === 'hop' || setup === 'proxy') {
      servers.push(await start('bare', join(dir, 'up.sock'), dir));
      servers.push(await start(setup, socket, dir, join(dir, 'up.sock')));
    } else servers.push(await start(setup, socket, dir));
    // A light client: requests encoded once up front (each with its own uid, as the apiserver sends), answers not
    // decoded, so that on 2 cores the servers rather than the client set the pace.
    const client = new Client(`unix://${socket}`, credentials.createInsecure());
    const raw = (path: string, request: Buffer) =>
      new Promise<Buffer>((resolve, reject) =>
        client.makeUnaryRequest<Buffer, Buffer>(
          `/v2.KeyManagementService/${path}`,
          (b) => b,
          (b) => b,
          request,
          { deadline: Date.now() + 10_000 },
          (error, value) => (error ? reject(error) : resolve(value!)),
        ),
      );
    const seed = Buffer.alloc(32, 7);
    const encode = (uid: string) => Buffer.from(EncryptRequest.encode({ plaintext: seed, uid }).finish());
    const wrapped = EncryptResponse.decode(await raw('Encrypt', encode(randomUUID())));
    const requests = Array.from({ length: 4096 }, () =>
      method === 'Encrypt'
        ? encode(randomUUID())
        : Buffer.from(
            DecryptRequest.encode({
              ciphertext: wrapped.ciphertext,
              keyId: wrapped.keyId,
              uid: randomUUID(),
              annotations: wrapped.annotations,
            }).finish(),
          ),
    );
    let next = 0;
    const call = () => raw(method, requests[next++ % requests.length]!);
    for (let i = 0; i < 300; i++) await call(); // warm-up
    const cpuBefore = await Promise.all(servers.map(cpu));
    const latencies: number[] = [];
    const end = performance.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < end) {
          const t = performance.now();
          await call();
          latencies.push(performance.now() - t);
        }
      }),
    );
    const cpuAfter = await Promise.all(servers.map(cpu));
    client.close();
    // SIGKILL, then every answered call must be in the audit file: 1 + warm-up + timed calls.
    for (const s of servers) s.kill('SIGKILL');
    const audit = join(dir, 'audit.jsonl');
    if (existsSync(audit)) {
      const lines = readFileSync(audit, 'utf8').split('\n').filter(Boolean).length;
      const answered = 1 + 300 + latencies.length;
      if (lines < answered)
        throw new Error(`${setup}: audit file has ${lines} records after SIGKILL, ${answered} calls were answered`);
    }
    latencies.sort((a, b) => a - b);
    const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!;
    const cpuMicros = cpuAfter.reduce((sum, after, i) => sum + after - cpuBefore[i]!, 0);
    return {
      setup,
      method,
      concurrency,
      perSecond: latencies.length / seconds,
      cpuMicrosPerCall: cpuMicros / latencies.length,
      p50: q(0.5),
      p99: q(0.99),
    };
  } finally {
    for (const s of servers) s.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

const SETUPS: Setup[] = ['bare', 'fake', 'hop', 'proxy'];
// Per cell: each setup's median round, and each ratio as the median of its per-round ratios. A round runs the four
// setups back to back, so a ratio within a round is not thrown off by the machine drifting between rounds.
interface Cell {
  method: Method;
  concurrency: number;
  rows: Record<Setup, Result>;
  ratios: { fakeBare: number; proxyHop: number; proxyBare: number };
}
const cells: Cell[] = [];
for (const method of ['Decrypt', 'Encrypt'] as const) {
  for (const concurrency of [1, 32]) {
    // Interleave the setups, rotating their order each round.
    const rounds: Array<Record<Setup, Result>> = [];
    for (let round = 0; round < ROUNDS; round++) {
      const order = [...SETUPS.slice(round % SETUPS.length), ...SETUPS.slice(0, round % SETUPS.length)];
      const results = {} as Record<Setup, Result>;
      for (const setup of order) results[setup] = await measure(setup, method, concurrency);
      rounds.push(results);
    }
    const rows = {} as Record<Setup, Result>;
    for (const setup of SETUPS) {
      const mine = rounds.map((r) => r[setup]).sort((a, b) => a.perSecond - b.perSecond);
      rows[setup] = {
        ...mine[Math.floor(mine.length / 2)]!,
        cpuMicrosPerCall: median(mine.map((r) => r.cpuMicrosPerCall)),
      };
    }
    const ratio = (a: Setup, b: Setup) => median(rounds.map((r) => r[a].perSecond / r[b].perSecond));
    cells.push({
      method,
      concurrency,
      rows,
      ratios: { fakeBare: ratio('fake', 'bare'), proxyHop: ratio('proxy', 'hop'), proxyBare: ratio('proxy', 'bare') },
    });
  }
}

const pct = (x: number) => `${(100 * x).toFixed(0)}%`;
const verdict = (x: number) => (x >= TARGET ? 'met' : 'MISSED');
console.log(
  `${ROUNDS} interleaved ${seconds} s rounds, node ${process.version}; calls/s: each setup's median round; ratios: median of the per-round ratios; audit trails written to files with group commit, each checked complete after SIGKILL`,
);
console.log(
  'method   conc   bare/s   fake/s fake÷bare   hop/s  proxy/s proxy÷hop proxy÷bare  server CPU µs/call bare fake hop proxy',
);
for (const { method, concurrency, rows, ratios } of cells) {
  const { bare, fake, hop, proxy } = rows;
  console.log(
    [
      method.padEnd(8),
      String(concurrency).padStart(4),
      bare.perSecond.toFixed(0).padStart(8),
      fake.perSecond.toFixed(0).padStart(8),
      `${pct(ratios.fakeBare)} ${verdict(ratios.fakeBare)}`.padStart(10),
      hop.perSecond.toFixed(0).padStart(7),
      proxy.perSecond.toFixed(0).padStart(8),
      `${pct(ratios.proxyHop)} ${verdict(ratios.proxyHop)}`.padStart(10),
      pct(ratios.proxyBare).padStart(10),
      '  ',
      [bare, fake, hop, proxy].map((x) => x.cpuMicrosPerCall.toFixed(0).padStart(4)).join(' '),
    ].join(' '),
  );
}
console.log('p50/p99 latency ms:');
for (const x of cells.flatMap((c) => SETUPS.map((setup) => c.rows[setup]))) {
  console.log(`  ${x.method} c${x.concurrency} ${x.setup}: ${x.p50.toFixed(2)}/${x.p99.toFixed(2)}`);
}
