import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { kmslab } from '../../test/support/cli.js';

// `kmslab verify` through the CLI, without a cluster: usage mistakes exit 2 with what to do, a cluster that cannot
// be reached exits 3 (not decided), never 0.
const dir = mkdtempSync(join(tmpdir(), 'verify-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const kubeconfig = join(dir, 'kubeconfig');
writeFileSync(
  kubeconfig,
  `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1', insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: lab, context: {cluster: c, user: u}}]
current-context: lab
`,
);
const run = (args: string[]) => kmslab(['verify', ...args], { reject: false, env: { KUBECONFIG: '' } });

describe('kmslab verify (CLI)', () => {
  test('usage mistakes exit 2, saying what to give', async () => {
    const none = await run([]);
    expect([none.exitCode, none.stderr]).toEqual([
      2,
      expect.stringMatching(/needs something to look at: --kubeconfig/),
    ]);
    const key = await run(['--kubeconfig', kubeconfig, '--expect-key', 'k']);
    expect([key.exitCode, key.stderr]).toEqual([2, expect.stringMatching(/judge a --cloud-audit FILE/)]);
    const cond = await run(['--kubeconfig', kubeconfig, '--fail-on', 'encrypted']);
    expect([cond.exitCode, cond.stderr]).toEqual([
      2,
      expect.stringMatching(/"encrypted" is not a condition; use plaintext/),
    ]);
    const ctx = await run(['--kubeconfig', kubeconfig, '--context', 'prod']);
    expect([ctx.exitCode, ctx.stderr]).toEqual([2, expect.stringMatching(/no such context .* \(it has lab\)/)]);
    const audit = await run(['--cloud-audit', kubeconfig]);
    expect([audit.exitCode, audit.stderr]).toEqual([
      2,
      expect.stringMatching(/kubeconfig:1: not JSON; expected one event per line/),
    ]);
  });

  test('a cluster that cannot be reached: exit 3, not a verdict', async () => {
    const r = await run(['--kubeconfig', kubeconfig, '--junit', join(dir, 'v.xml')]);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toMatch(/could not read the cluster at https:\/\/127\.0\.0\.1:1\/? \(context lab\)/);
  });
});

test('a broken kubeconfig is refused without quoting it (it holds credentials)', async () => {
  const broken = join(dir, 'broken');
  writeFileSync(broken, 'apiVersion: v1\nusers:\n  - name: u\n    user: {token: s3cr3t-token\n  bad: [\n');
  const r = await run(['--kubeconfig', broken]);
  expect(r.exitCode).toBe(2);
  expect(r.stderr).toMatch(/not a kubeconfig kmslab can read/);
  expect(r.stderr).not.toContain('s3cr3t');
});
