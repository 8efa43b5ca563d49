import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ResultPromise } from 'execa';
import { afterAll, describe, expect, test } from 'vitest';
import { poll } from '../harness/common/wait.js';
import { kmslab } from './support/cli.js';
import { kmsClient } from './support/kms-client.js';

// Group commit must not cost durability: every call a plugin answered is in its audit file even when the plugin is
// SIGKILLed in the middle of a burst. Counted from the client's side: the uids of the calls that got an answer.
describe('audit records of answered calls survive SIGKILL under load', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kmslab-audit-kill-'));
  const started: ResultPromise[] = [];
  afterAll(async () => {
    for (const p of started) p.kill('SIGKILL');
    await Promise.all(started.map((p) => p.catch(() => undefined)));
    rmSync(dir, { recursive: true, force: true });
  });

  // Returns the process in a box: awaiting a ResultPromise itself would wait for the process to exit.
  async function serve(args: string[], socket: string): Promise<{ process: ResultPromise }> {
    rmSync(socket, { force: true }); // a SIGKILLed server leaves its socket file behind
    const p = kmslab(args, { stdout: 'ignore', stderr: 'pipe' });
    started.push(p);
    await poll(async () => (existsSync(socket) ? true : undefined), {
      timeoutMs: 120_000,
      what: `${args.slice(0, 2).join(' ')} to listen on ${socket}`,
      abortIf: () => {
        if (p.exitCode !== null) throw new Error(`${args.join(' ')} exited ${p.exitCode}`);
      },
    });
    return { process: p };
  }

  // Runs 32 callers until `victim` is SIGKILLed after `killAfterCalls` answers; returns the uids answered OK.
  async function burstThenKill(socket: string, victim: ResultPromise, killAfterCalls: number): Promise<Set<string>> {
    const client = kmsClient(socket);
    const wrapped = await client.encrypt({ plaintext: Buffer.alloc(32, 1), uid: randomUUID() });
    const answered = new Set<string>([]);
    let stop = false;
    const callers = Array.from({ length: 32 }, async (_, i) => {
      while (!stop) {
        const uid = randomUUID();
        const call =
          i % 2
            ? client.encrypt({ plaintext: Buffer.alloc(32, 2), uid })
            : client.decrypt({ ciphertext: wrapped.ciphertext, keyId: wrapped.keyId, uid, annotations: {} });
        try {
          await call;
          answered.add(uid);
        } catch {
          stop = true; // the plugin is gone
        }
      }
    });
    // Kill in the middle of the burst: once enough calls were answered that batches are in full swing.
    await poll(async () => (answered.size >= killAfterCalls || stop ? true : undefined), {
      timeoutMs: 120_000,
      intervalMs: 5,
      what: `${killAfterCalls} answered calls`,
    });
    victim.kill('SIGKILL');
    await Promise.all(callers);
    client.close();
    return answered;
  }

  const records = (file: string) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .flatMap((line) => {
        try {
          return [JSON.parse(line) as { uid: string; seq: number }];
        } catch {
          return []; // a line torn by the kill: it belongs to a call that was never answered
        }
      });

  // Three bursts, each ended by SIGKILL, the server restarted on the same audit file in between: every answered
  // call is on file, and seq never repeats across the restarts.
  async function killCycles(serveIt: () => Promise<{ process: ResultPromise }>, socket: string, audit: string) {
    const answered = new Set<string>();
    for (let cycle = 0; cycle < 3; cycle++) {
      const server = await serveIt();
      for (const uid of await burstThenKill(socket, server.process, 1_000)) answered.add(uid);
    }
    expect(answered.size).toBeGreaterThanOrEqual(3_000);
    const onFile = records(audit);
    const audited = new Set(onFile.map((r) => r.uid));
    const missing = [...answered].filter((uid) => !audited.has(uid));
    expect(missing, `${missing.length} of ${answered.size} answered calls are not in the audit file`).toEqual([]);
    const seqs = onFile.map((r) => r.seq);
    expect(
      seqs.every((seq, i) => i === 0 || seq > seqs[i - 1]!),
      'seq rises through every restart',
    ).toBe(true);
  }

  test('the fake KMS', async () => {
    const socket = join(dir, 'fake', 'kms.sock');
    const audit = join(dir, 'fake-audit.jsonl');
    await killCycles(
      () => serve(['fake-kms', 'serve', '--socket', socket, '--ephemeral', '--audit', audit], socket),
      socket,
      audit,
    );
  });

  test('the proxy in front of a plugin', async () => {
    const upstream = join(dir, 'up', 'kms.sock');
    await serve(['fake-kms', 'serve', '--socket', upstream, '--ephemeral'], upstream);
    const socket = join(dir, 'proxy', 'kms.sock');
    const audit = join(dir, 'proxy-audit.jsonl');
    await killCycles(
      () => serve(['proxy', 'serve', '--socket', socket, '--upstream', upstream, '--audit', audit], socket),
      socket,
      audit,
    );
  });
});
