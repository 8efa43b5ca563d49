import { existsSync, mkdirSync, mkdtempSync, openSync, closeSync, rmSync, writeSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { AuditTrail, auditTime, type AuditRecord } from './audit.js';

const call = (i: number, code = 'OK'): Omit<AuditRecord, 'seq'> => ({
  time: new Date(1_700_000_000_000 + i).toISOString(),
  method: i % 2 ? 'Decrypt' : 'Encrypt',
  uid: `uid-${i}`,
  keyId: 'k1',
  code,
  latencyMs: 0.5,
  requestBytes: 32,
  responseBytes: 60,
  faults: [],
});

const fresh = () => join(mkdtempSync(join(tmpdir(), 'audit-')), 'audit.jsonl');

test('the file rotates at its size limit; a restart continues seq and the counters from the current file', async () => {
  const file = fresh();
  const trail = await AuditTrail.open({ file, maxFileBytes: 2_000, maxFiles: 2 });
  for (let i = 0; i < 100; i++) trail.record(call(i, i % 10 === 0 ? 'NOT_FOUND' : 'OK'));
  await trail.close();
  expect(statSync(file).size).toBeLessThanOrEqual(2_000);
  expect(existsSync(`${file}.1`)).toBe(true);
  expect(existsSync(`${file}.2`)).toBe(true);
  expect(existsSync(`${file}.3`)).toBe(false);

  const again = await AuditTrail.open({ file, maxFileBytes: 2_000, maxFiles: 2 });
  expect(again.lastSeq).toBe(100);
  expect(again.counters()).toEqual({ Encrypt: { OK: 40, NOT_FOUND: 10 }, Decrypt: { OK: 50 } });
  again.record(call(100));
  expect(again.query({ limit: 1 })[0]!.seq).toBe(101);
  expect(again.metrics()).toContain('kmslab_fake_kms_call_duration_seconds_count{method="Encrypt"} 51');
  await again.close();
});

test('a trail file larger than a JavaScript string can hold is read back, not silently restarted at seq 1', async () => {
  const file = fresh();
  // 560 MiB of records padded with a long message: past V8's ~512 MiB string limit for readFileSync(…, 'utf8').
  const fd = openSync(file, 'w', 0o600);
  const pad = 'x'.repeat(64 * 1024);
  const block: string[] = [];
  let seq = 0;
  for (let i = 0; i < 64; i++) block.push(JSON.stringify({ ...call(i), seq: 0, message: pad }));
  const lines = 560 * 16; // 64 KiB each
  for (let written = 0; written < lines; written += block.length) {
    writeSync(fd, block.map((l) => l.replace('"seq":0', `"seq":${++seq}`)).join('\n') + '\n');
  }
  closeSync(fd);
  expect(statSync(file).size).toBeGreaterThan(550 * 1024 * 1024);

  const trail = await AuditTrail.open({ file, maxFileBytes: 1024 * 1024 * 1024 });
  expect(trail.lastSeq).toBe(seq);
  trail.record(call(0));
  expect(trail.query({ limit: 1 })[0]!.seq).toBe(seq + 1);
  await trail.close();
  rmSync(dirname(file), { recursive: true, force: true });
}, 120_000);

test('a torn last line is skipped and ended; an unreadable trail stops the plugin with a message', async () => {
  const file = fresh();
  const trail = await AuditTrail.open({ file });
  trail.record(call(0));
  await trail.close();
  const fd = openSync(file, 'a');
  writeSync(fd, '{"seq":2,"time":"20');
  closeSync(fd);
  const again = await AuditTrail.open({ file });
  again.record(call(1));
  expect(again.query().map((r) => r.seq)).toEqual([1, 2]);
  await again.close();

  const dir = join(fresh(), '..', 'a-directory');
  mkdirSync(dir);
  await expect(AuditTrail.open({ file: dir })).rejects.toThrow(/could not be read back.*move it away/);
});

test('free-text fields are bounded', () => {
  const trail = new AuditTrail();
  trail.record({ ...call(0), uid: 'u'.repeat(10_000), message: 'm'.repeat(100_000) });
  const [r] = trail.query();
  expect(r!.uid.length).toBeLessThan(200);
  expect(r!.message!.length).toBeLessThan(1200);
});

test('auditTime writes what toISOString writes, for any time a Date holds', () => {
  const times = [0, -1, -0.5, 0.999, 999.5, 1000, -1000.25, 8.64e15, -8.64e15, 253402300799999, 253402300800000];
  let t = 1_764_453_610_000;
  for (let i = 0; i < 5000; i++) {
    t += Math.random() < 0.5 ? Math.random() * 3 : Math.random() * 3e6; // runs within a second and jumps across
    times.push(t, -t, Math.random() * 8.64e15 * (Math.random() < 0.5 ? -1 : 1));
  }
  for (const time of times) expect(auditTime(time), String(time)).toBe(new Date(time).toISOString());
  expect(() => auditTime(Number.NaN)).toThrow(RangeError);
});
