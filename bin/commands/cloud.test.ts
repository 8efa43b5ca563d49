import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AlibabaEmulator } from '../../cloud/index.js';

const kmslab = (args: string[], env: Record<string, string> = {}) =>
  execa('node', ['bin/kmslab.js', 'cloud', ...args], { reject: false, env: { ...process.env, ...env } });

describe('kmslab cloud', () => {
  let dir: string;
  let emu: AlibabaEmulator;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kmslab-cloud-cli-'));
    emu = await AlibabaEmulator.start({ stateDir: dir });
  });
  afterAll(async () => {
    await emu?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('usage mistakes exit 2 and say what to do', async () => {
    const noTarget = await kmslab(['status'], { KMSLAB_CLOUD_CONTROL: '' });
    expect(noTarget.exitCode).toBe(2);
    expect(noTarget.stderr).toMatch(/--control <socket>.*KMSLAB_CLOUD_CONTROL/);
    const badPrincipal = await kmslab(['grant', 'cluster', '--permissions', 'encrypt', '--control', 'x']);
    expect([badPrincipal.exitCode, badPrincipal.stderr]).toEqual([2, expect.stringMatching(/user:NAME or role:NAME/)]);
    const badPermission = await kmslab(['grant', 'role:r', '--permissions', 'fly', '--control', 'x']);
    expect([badPermission.exitCode, badPermission.stderr]).toEqual([2, expect.stringMatching(/encrypt, decrypt/)]);
  });

  test('revoke, audit and grant act on a running emulator', async () => {
    const env = { KMSLAB_CLOUD_CONTROL: emu.connection.controlSocket };
    const revoked = await kmslab(['revoke', 'role:AliyunCSManagedSecurityRole', '--key', 'default'], env);
    expect(revoked.exitCode, revoked.stderr).toBe(0);
    expect(JSON.parse(revoked.stdout)).toEqual({ changed: 1 });
    expect(emu.core.grants.list().some((g) => g.principal === 'role:AliyunCSManagedSecurityRole')).toBe(false);
    const granted = await kmslab(
      ['grant', 'role:AliyunCSManagedSecurityRole', '--permissions', 'encrypt,decrypt'],
      env,
    );
    expect(JSON.parse(granted.stdout)).toMatchObject({
      key: emu.connection.keyId,
      permissions: ['encrypt', 'decrypt'],
    });
    const fault = await kmslab(['fault', 'add', 'latency', '--action', 'Decrypt'], env);
    expect([fault.exitCode, fault.stderr]).toEqual([2, expect.stringMatching(/--ms/)]);
    const audit = await kmslab(['audit', '--json'], env);
    expect(JSON.parse(audit.stdout)).toEqual([]);
  });
});
