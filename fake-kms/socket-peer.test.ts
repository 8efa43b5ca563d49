import { spawn } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { kmsClient } from '../test/support/kms-client.js';
import { startFakeKms } from './fake-kms.js';
import { peerOfFd, peerPid } from './socket-peer.js';

const dir = mkdtempSync(join(tmpdir(), 'kmslab-peer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('socket peer: who is at the other end of a unix socket', () => {
  test('peerPid follows our inode to the peer inode, then to the process holding it', () => {
    const ss = [
      'u_str ESTAB 0 0 /tmp/x/kms.sock 5001 * 5002 users:(("node",pid=10,fd=21))',
      'u_str ESTAB 0 0 * 5002 * 5001 users:(("kube-apiserver",pid=4242,fd=9),("kube-apiserver",pid=4242,fd=12))',
      'u_str ESTAB 0 0 * 7001 * 7002',
      'u_str ESTAB 0 0 /run/other.sock 7002 * 7001 users:(("dockerd",pid=77,fd=3))',
    ].join('\n');
    expect(peerPid(ss, '5001')).toBe(4242);
    expect(peerPid(ss, '5002')).toBe(10);
    // A peer whose holder ss could not see (another user's process), and an inode not listed.
    expect(peerPid(ss, '7002')).toBeUndefined();
    expect(peerPid(ss, '9999')).toBeUndefined();
  });

  test('a connection from another process: its pid, uid and executable, as SO_PEERCRED would say', async () => {
    const path = join(dir, 'peer.sock');
    const accepted = new Promise<Socket>((resolve) => {
      const server = createServer((s) => {
        resolve(s);
        server.close();
      });
      server.listen(path);
    });
    const child = spawn(process.execPath, [
      '-e',
      `const s=require('net').connect(${JSON.stringify(path)}); setTimeout(()=>s.end(),5000)`,
    ]);
    try {
      const socket = await accepted;
      const fd = (socket as unknown as { _handle: { fd: number } })._handle.fd;
      const t = performance.now();
      const peer = await peerOfFd(fd);
      const ms = performance.now() - t;
      expect(peer).toEqual({ pid: child.pid, uid: process.getuid!(), exe: realpathSync(process.execPath) });
      console.log(`peer lookup: ${ms.toFixed(1)} ms`);
      socket.destroy();
    } finally {
      child.kill();
    }
  });

  test("the fake KMS's audit trail names the caller of each call; one lookup serves a connection's calls", async () => {
    const kms = await startFakeKms({ socketPath: join(dir, 'kms.sock'), stateDir: join(dir, 'state') });
    const client = kmsClient(kms.socketPath);
    try {
      await client.status();
      await client.status();
      const records = kms.service.audit.query({});
      expect(records).toHaveLength(2);
      for (const r of records)
        expect(r.peer).toEqual({ pid: process.pid, uid: process.getuid!(), exe: realpathSync(process.execPath) });
    } finally {
      client.close();
      await kms.close();
    }
  });
});
