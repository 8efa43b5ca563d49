import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { MAX_ENCRYPTION_CONFIG_BYTES, readEncryptionConfig } from './lab-options.js';

const dir = mkdtempSync(join(tmpdir(), 'kmslab-encryption-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const path = (name: string) => join(dir, name);

const good = `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers:
      - kms: {apiVersion: v2, name: cloud-kms, endpoint: unix:///run/kms.sock, timeout: 1m30s}
      - identity: {}
`;

// Refused before reading, as a usage error (exit 2) that says what the file is.
const refused = async (file: string, message: RegExp) => {
  const error = (await readEncryptionConfig(file).catch((e: unknown) => e)) as { code?: string; message?: string };
  expect(error.code, String(error.message)).toBe('usage');
  expect(error.message).toMatch(message);
};

describe('readEncryptionConfig reads only a small regular file of UTF-8 text', () => {
  test('a good file is read and linted (through a symlink too)', async () => {
    writeFileSync(path('good.yaml'), good);
    symlinkSync(path('good.yaml'), path('link.yaml'));
    for (const file of ['good.yaml', 'link.yaml']) {
      expect((await readEncryptionConfig(path(file)))?.providerName).toBe('cloud-kms');
    }
  });

  test.each([
    ['/dev/zero', /→ \/dev\/zero\): is a character device, not a regular file/],
    ['/dev/urandom', /→ \/dev\/urandom\): is a character device/],
  ])('a symlink to %s is refused before anything is read', async (target, message) => {
    const link = path(`to-${target.replaceAll('/', '-')}`);
    symlinkSync(target, link);
    await refused(link, message);
  });

  test('a FIFO is refused at once, not waited on', async () => {
    execFileSync('mkfifo', [path('fifo')]);
    await refused(path('fifo'), /is a FIFO \(named pipe\), not a regular file/);
  });

  test('a directory, a missing file and a dangling link are refused with what they are', async () => {
    mkdirSync(path('dir'));
    await refused(path('dir'), /is a directory/);
    await refused(path('missing.yaml'), /missing\.yaml: no such file/);
    symlinkSync(path('nowhere'), path('dangling'));
    await refused(path('dangling'), /no such file/);
  });

  test('a file over the limit is refused, naming the limit', async () => {
    writeFileSync(path('big.yaml'), `${good}#${'x'.repeat(MAX_ENCRYPTION_CONFIG_BYTES)}\n`);
    await refused(path('big.yaml'), new RegExp(`kmslab reads at most ${MAX_ENCRYPTION_CONFIG_BYTES} bytes`));
    writeFileSync(path('edge.yaml'), `${good}#`.padEnd(MAX_ENCRYPTION_CONFIG_BYTES, 'x'));
    expect((await readEncryptionConfig(path('edge.yaml')))?.providerName).toBe('cloud-kms');
  });

  test('bytes that are not UTF-8 are refused at their line (the apiserver refuses them too)', async () => {
    writeFileSync(path('latin1.yaml'), Buffer.concat([Buffer.from(good), Buffer.from('# caf\xe9\n', 'latin1')]));
    await refused(path('latin1.yaml'), /latin1\.yaml:8: error: not UTF-8 text/);
  });

  test('lint problems come with file:line', async () => {
    writeFileSync(path('name.yaml'), good.replace('cloud-kms', 'Cloud KMS'));
    await refused(path('name.yaml'), /name\.yaml:6: error: KMS provider name "Cloud KMS" cannot be used with kmslab/);
  });
});
