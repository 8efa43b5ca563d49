import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { EncryptedDEKSourceType, encodeKmsV2Value } from '../../sim/index.js';
import { kmslab } from '../../test/support/cli.js';
import { fakeEtcd, silentEndpoint, type FakeEtcd } from '../../test/support/fake-etcd.js';

// `kmslab inspect` through the CLI against an in-memory etcd holding keys no apiserver would write: what a CI log
// or a terminal shows must be inert and unambiguous, JSON must name every key exactly, exit codes must tell "the
// gate failed" from "could not look".
const plaintext = Buffer.from('k8s\u0000\n\u0002v1\u0012\u0006Secret');
const kmsV2 = (provider: string, keyID: string) =>
  encodeKmsV2Value(provider, {
    encryptedData: Buffer.alloc(64, 1),
    keyID,
    encryptedDEKSource: Buffer.alloc(32, 2),
    annotations: {},
    encryptedDEKSourceType: EncryptedDEKSourceType.HKDF_SHA256_XNONCE_AES_GCM_SEED,
  });
const key = (...parts: Array<string | Buffer>) =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)));
const hostile = [
  key('/registry/secrets/ns/\u001b]0;pwned\u0007title'),
  key('/registry/secrets/ns/line\rFAKE: all encrypted'),
  key('/registry/secrets/ns/', Buffer.of(0xff, 0xfe), 'bytes'),
  key('/registry/secrets/ns/\u202eevil.txt'),
];
const entries = [
  ...hostile.map((k) => ({ key: k, value: plaintext })),
  { key: key('/registry/secrets/ns/ok'), value: kmsV2('kms\u001b[31m', 'key\u001b[2J\u202e1') },
  { key: key('/registry/configmaps/ns/\u0007bell'), value: plaintext },
];
// Anything a terminal would act on; the tables themselves use only spaces and newlines.
const ACTED_ON = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

let etcd: FakeEtcd;
const dir = mkdtempSync(join(tmpdir(), 'kmslab-inspect-cli-'));
beforeAll(async () => {
  etcd = await fakeEtcd(entries);
});
afterAll(async () => {
  await etcd?.close();
  rmSync(dir, { recursive: true, force: true });
});
const inspect = (...args: string[]) => kmslab(['inspect', '--etcd', etcd.url, ...args]);

describe('kmslab inspect on keys no apiserver would write', () => {
  test('the terminal output and JUnit show every key escaped, and the gate fails with exit 1', async () => {
    const junit = join(dir, 'gate.xml');
    const r = await inspect('--keys', '--fail-on', 'plaintext', '--junit', junit);
    expect(r.exitCode, String(r.stderr)).toBe(1);
    const out = String(r.stdout);
    expect(out).not.toMatch(ACTED_ON);
    expect(out).toContain('/registry/secrets/ns/\\x1b]0;pwned\\x07title');
    expect(out).toContain('/registry/secrets/ns/line\\rFAKE: all encrypted');
    expect(out).toContain('/registry/secrets/ns/\\xff\\xfebytes');
    expect(out).toContain('/registry/secrets/ns/\\u202eevil.txt');
    expect(out).toContain('KMS v2 provider kms\\x1b[31m:');
    expect(out).toContain('key\\x1b[2J\\u202e1');
    expect(out).toMatch(/5 value\(s\) match --fail-on plaintext/);

    const xml = readFileSync(junit, 'utf8');
    expect(xml).not.toMatch(ACTED_ON);
    // A testcase per condition and resource: secrets fails naming its four keys, configmaps its one.
    expect(xml).toMatch(
      /<testcase classname="kmslab\.inspect\.plaintext" name="secrets"[^>]*>\s*<failure message="4 of 5 value\(s\) under secrets/,
    );
    expect(xml).toMatch(
      /<testcase classname="kmslab\.inspect\.plaintext" name="configmaps"[^>]*>\s*<failure message="1 of 1/,
    );
    expect(xml).toContain('/registry/secrets/ns/\\xff\\xfebytes  identity');
    expect(xml).toContain('/registry/configmaps/ns/\\x07bell');
  });

  test('--json names every key exactly (keyBase64), rows and offenders alike', async () => {
    const r = await inspect('--json', '--fail-on', 'plaintext');
    expect(r.exitCode).toBe(1);
    const out = JSON.parse(String(r.stdout)) as {
      rows: Array<{ key: string; keyBase64: string }>;
      offenders: Array<{ keyBase64: string; condition: string }>;
    };
    const exact = (list: Array<{ keyBase64: string }>) =>
      list.map((x) => Buffer.from(x.keyBase64, 'base64').toString('hex')).sort();
    expect(exact(out.rows)).toEqual(entries.map((e) => e.key.toString('hex')).sort());
    expect(exact(out.offenders)).toEqual(
      entries
        .filter((e) => e.value === plaintext)
        .map((e) => e.key.toString('hex'))
        .sort(),
    );
    // The text form stays for reading; for the key that is not UTF-8 it cannot name it, keyBase64 does.
    expect(out.rows.map((x) => x.key)).toContain('/registry/secrets/ns/\ufffd\ufffdbytes');
  });

  test('an endpoint that never answers: exit 3 after the dial timeout, not 1, with the JUnit testcase in error', async () => {
    const silent = await silentEndpoint();
    try {
      const junit = join(dir, 'unreadable.xml');
      const r = await kmslab(['inspect', '--etcd', silent.url, '--dial-timeout', '500ms', '--junit', junit]);
      expect(r.exitCode).toBe(3);
      expect(String(r.stderr)).toMatch(/could not read etcd at .*did not answer within the 500ms dial timeout/);
      expect(readFileSync(junit, 'utf8')).toMatch(
        /<testcase classname="kmslab\.inspect" name="read etcd"[^>]*>\s*<error/,
      );
    } finally {
      await silent.close();
    }
  });

  test('--help documents every exit code; a bad timeout is a usage error (2)', async () => {
    const help = await kmslab(['inspect', '--help']);
    for (const code of ['0', '1', '2', '3']) expect(String(help.stdout)).toMatch(new RegExp(`^  ${code}  \\S`, 'm'));
    const bad = await inspect('--dial-timeout', 'soon');
    expect(bad.exitCode).toBe(2);
    expect(String(bad.stderr)).toMatch(/--dial-timeout "soon" is not a duration/);
  });
});
