import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { fakeEtcd, silentEndpoint } from '../../test/support/fake-etcd.js';
import { testCa } from '../../test/support/test-ca.js';
import { EtcdRange } from './etcd-range.js';
import { inspectEtcd } from './inspect.js';

const value = Buffer.from('{"kind":"Secret"}');
const entries = ['a', 'b', 'c'].map((n) => ({ key: Buffer.from(`/registry/secrets/ns/${n}`), value }));

describe('dial deadline, apart from the call deadline', () => {
  test('an endpoint that accepts TCP and never answers fails at the dial deadline, not the call deadline', async () => {
    const silent = await silentEndpoint();
    try {
      const started = performance.now();
      const error = await inspectEtcd({ etcd: silent.url, timeoutMs: 30_000, dialTimeoutMs: 300 }).catch((e) => e);
      const ms = performance.now() - started;
      expect(String(error)).toMatch(/did not answer within the 300ms dial timeout/);
      // Far from the 30 s call deadline (the bound is loose: this only tells the two deadlines apart).
      expect(ms).toBeLessThan(10_000);
    } finally {
      await silent.close();
    }
  });

  test('inspectEtcd dials with etcdctl’s 2 s by default', async () => {
    const silent = await silentEndpoint();
    try {
      const error = await inspectEtcd({ etcd: silent.url, timeoutMs: 30_000 }).catch((e) => e);
      expect(String(error)).toMatch(/within the 2s dial timeout/);
    } finally {
      await silent.close();
    }
  });

  test('a silent endpoint first in the list is passed over for the next one, which answers', async () => {
    const [silent, etcd] = [await silentEndpoint(), await fakeEtcd(entries)];
    try {
      const report = await inspectEtcd({ etcd: [silent.url, etcd.url], dialTimeoutMs: 300 });
      expect(report.summary.total).toBe(3);
    } finally {
      await Promise.all([silent.close(), etcd.close()]);
    }
  });

  test('a refused connection fails at once, with grpc’s reason', async () => {
    const silent = await silentEndpoint();
    const url = silent.url;
    await silent.close();
    const started = performance.now();
    const error = await inspectEtcd({ etcd: url, dialTimeoutMs: 20_000 }).catch((e) => e);
    expect(String(error)).toMatch(/UNAVAILABLE|ECONNREFUSED|No connection/);
    expect(performance.now() - started).toBeLessThan(15_000);
  });
});

describe('TLS to an IP address', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kmslab-range-tls-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const ca = testCa(dir);
  const caPem = ca.caPem;
  const certFor = (name: string, san: string) => ca.issue(name, `subjectAltName=${san}\nextendedKeyUsage=serverAuth`);

  test('verified against the IP, without the RFC 6066 warning Node gives for an IP as TLS server name', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    const etcd = await fakeEtcd(entries, certFor('server', 'IP:127.0.0.1'));
    try {
      const report = await inspectEtcd({ etcd: etcd.url, tls: { caPem } });
      expect(report.summary.total).toBe(3);
      // Warnings are emitted on the next tick.
      await new Promise((r) => setImmediate(r));
      expect(warnings.map((w) => `${w.name} ${(w as { code?: string }).code}: ${w.message}`)).toEqual([]);
    } finally {
      process.off('warning', onWarning);
      await etcd.close();
    }
  });

  test('a certificate for another IP is still refused', async () => {
    const etcd = await fakeEtcd(entries, certFor('other', 'IP:10.9.9.9'));
    const range = new EtcdRange(etcd.url, { caPem }, 5_000, 5_000);
    try {
      await expect(inspectEtcd({ etcd: range })).rejects.toThrow(/10\.9\.9\.9|altnames|Hostname|IP/);
    } finally {
      range.close();
      await etcd.close();
    }
  });
});
