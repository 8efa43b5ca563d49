import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import type { AwsConnection } from '../../cloud/index.js';
import { checkCloud, cloudFiles, cloudPlugin, credentialRefreshMs, pluginEnv } from './cloud-side.js';
import { controlKms, externalLacks } from './control-kms.js';
import { withCloud } from './cloud-kms.js';
import { CLOUD_CAPABILITIES } from './lab-cloud.js';
import { KmsControlClient } from '../../fake-kms/index.js';

const dir = mkdtempSync(join(tmpdir(), 'kmslab-cloud-side-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const aws = {
  cloud: 'aws',
  endpoint: 'https://127.0.0.1:4433',
  stsEndpoint: 'https://127.0.0.1:4433',
  region: 'us-east-1',
  caFile: '/lab/cloud/tls/ca.crt',
  keyId: 'k-1',
  keyArn: 'arn:aws:kms:us-east-1:111122223333:key/k-1',
  alias: 'alias/kmslab',
  accessKeyId: 'AKIAEXAMPLE',
  secretAccessKey: `it's "quoted" $HOME \`x\``,
  roleArn: 'arn:aws:iam::111122223333:role/kmslab-kms-plugin',
  credentialsFiles: { cluster: '/lab/cloud/cluster.json', admin: '/lab/cloud/admin.json' },
  envWebIdentity: {
    AWS_CA_BUNDLE: '/lab/cloud/tls/ca.crt',
    AWS_REGION: 'us-east-1',
    AWS_ROLE_ARN: 'arn:aws:iam::111122223333:role/kmslab-kms-plugin',
  },
} as unknown as AwsConnection;

describe('cloud side of a lab', () => {
  test('the env file gives a plugin the emulator, overrides the machine (AWS_CA_BUNDLE), drops foreign credentials', () => {
    const file = join(dir, 'env.sh');
    writeFileSync(file, pluginEnv(aws, cloudFiles('/lab')));
    const out = execFileSync(
      '/bin/sh',
      [
        '-c',
        `. ${file} && printf '%s\\n' "$AWS_CA_BUNDLE" "$KMSLAB_CLOUD_ACCESS_KEY_SECRET" "\${AWS_PROFILE-unset}" "$KMSLAB_CLOUD_CONTROL"`,
      ],
      { env: { PATH: process.env.PATH, AWS_CA_BUNDLE: '/etc/ssl/certs/ca-certificates.crt', AWS_PROFILE: 'real' } },
    )
      .toString()
      .split('\n');
    expect(out.slice(0, 4)).toEqual(['/lab/cloud/tls/ca.crt', aws.secretAccessKey, 'unset', '/lab/cloud/control.sock']);
  });

  test("a user's plugin and hooks source the env file first; a plugin on a socket of its own is refused", async () => {
    const p = await cloudPlugin('aws', '/lab', {
      command: 'my-plugin --listen {socket}',
      hooks: { disable: 'off {keyId}' },
    });
    expect(p.command).toBe('. /lab/cloud/plugin-env.sh && my-plugin --listen {socket}');
    expect(p.hooks).toEqual({ disable: '. /lab/cloud/plugin-env.sh && off {keyId}' });
    await expect(cloudPlugin('alibaba', '/lab', { socket: '/run/p.sock' })).rejects.toThrow(/not --plugin-socket/);
  });

  test('a lab refuses --cloud where it cannot work, before starting anything', async () => {
    const { startLab } = await import('../start-lab.js');
    await expect(startLab({ cloud: 'aws', backend: 'kind' })).rejects.toThrow(/local backend only/);
    await expect(startLab({ cloud: 'alibaba', backend: 'sim' })).rejects.toThrow(/sim models the fake KMS/);
    await expect(startLab({ cloud: 'aws', plugin: { socket: '/run/p.sock' } })).rejects.toThrow(/not --plugin-socket/);
  });

  test("the Alibaba plugin's refresh interval: ACK's 8 min, or the lab setting in whole seconds under 30 min", () => {
    const with_ = (v?: string) =>
      credentialRefreshMs('alibaba', v === undefined ? {} : { KMSLAB_CREDENTIAL_INTERVAL: v });
    expect(with_()).toBe(480_000);
    expect(with_('15s')).toBe(15_000);
    expect(with_('29m59s')).toBe(1_799_000);
    expect(credentialRefreshMs('aws', { KMSLAB_CREDENTIAL_INTERVAL: '15s' })).toBeUndefined();
    expect(() => with_('30m')).toThrow('KMSLAB_CREDENTIAL_INTERVAL "30m" is too long: the most is 29m59s');
    expect(() => with_('500ms')).toThrow(/too short/);
    expect(() => with_('1.5s')).toThrow(/whole seconds/);
    expect(() => with_('soon')).toThrow(/is not a duration/);
  });

  test('--cloud takes the clouds kmslab emulates', () => {
    expect(checkCloud('aws')).toBe('aws');
    expect(() => checkCloud('gcp')).toThrow('--cloud gcp: kmslab emulates alibaba and aws');
  });

  test('cloud capabilities: none without a cloud (with the reason), all once the emulator runs', () => {
    const fake = controlKms(new KmsControlClient('/nowhere'), async () => undefined);
    for (const cap of CLOUD_CAPABILITIES) {
      expect(fake.lacks(cap)).toMatch(/--cloud alibaba\|aws/);
      expect(fake.capabilities.has(cap)).toBe(false);
      expect(externalLacks({ command: 'p {socket}' })(cap)).toMatch(/--cloud/);
    }
    let started = false;
    const record = { name: 'aws' as const, control: '/c', stateDir: '/s', principal: 'role:r', keyId: 'k', role: 'r' };
    const kms = withCloud(fake, () => (started ? record : undefined));
    expect(kms.lacks('cloud-revoke')).toMatch(/not started/);
    expect(kms.cloud).toBeUndefined();
    started = true;
    expect(CLOUD_CAPABILITIES.every((c) => kms.capabilities.has(c))).toBe(true);
    expect(kms.cloud?.principal).toBe('role:r');
    expect(kms.lacks('rotate')).toBeUndefined();
  });
});
