import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { KubeApi } from '../harness/backends/common/kube-api.js';

// A throwaway self-signed serving certificate for 127.0.0.1 (openssl, as the TLS integration tests use).
function selfSigned(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kmslab-abort-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// The workload's deadline reaches the real client: an aborted request closes its connection, so the apiserver's
// handler is cancelled instead of running on unseen.
test('an aborted Secret request closes its connection to the apiserver', async () => {
  const tls = selfSigned();
  const received: string[] = [];
  const closed: string[] = [];
  const server = createServer(tls, (req: IncomingMessage) => {
    received.push(`${req.method} ${req.url}`);
    req.socket.on('close', () => closed.push(`${req.method} ${req.url}`));
  }); // never answers
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const api = new KubeApi({ server: `https://127.0.0.1:${port}`, caPem: tls.cert, token: 't' });
  try {
    const abort = new AbortController();
    const call = api.createSecret({ namespace: 'ns', name: 'x' }, { v: 'value' }, { signal: abort.signal });
    await expect.poll(() => received).toEqual(['POST /api/v1/namespaces/ns/secrets']);
    const aborted = Date.now();
    abort.abort();
    await expect(call).rejects.toMatchObject({ name: 'ApiError', status: 0 });
    expect(Date.now() - aborted).toBeLessThan(2_000);
    await expect.poll(() => closed).toEqual(received);
  } finally {
    api.close();
    server.closeAllConnections();
    server.close();
  }
});
