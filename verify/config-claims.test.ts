import { describe, expect, test } from 'vitest';
import { lintEncryptionConfig } from '../harness/kube/encryption-config-lint.js';
import { namedResources, writesAs } from './config-claims.js';

const config = `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers:
      - identity: {}
      - kms: {name: Legacy_V1, endpoint: unix:///v1.sock, cachesize: 100}
  - resources: [configmaps, deployments.apps, widgets.example.com, '*.batch']
    providers:
      - aescbc: {keys: [{name: k1, secret: a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s=}]}
`;

describe('--config as the apiserver reads it (not as a lab needs it)', () => {
  test('KMS v1 (the default apiVersion), identity first and names kmslab could not use load; identity first is a warning', () => {
    const linted = lintEncryptionConfig(config, { forLab: false });
    expect(linted.problems.filter((p) => p.level === 'error')).toEqual([]);
    expect(linted.problems.map((p) => p.message)).toContainEqual(
      expect.stringMatching(/identity comes before the kms provider/),
    );
    expect(linted.rules[0]!.providers[1]).toEqual({ kmsV1: { name: 'Legacy_V1', socket: '/v1.sock' } });
    expect(writesAs(linted.rules[0]!.providers[0]!)).toEqual({ class: 'identity' });
    expect(writesAs(linted.rules[0]!.providers[1]!)).toEqual({ class: 'kms-v1', name: 'Legacy_V1' });
    expect(writesAs(linted.rules[1]!.providers[0]!)).toEqual({ class: 'aescbc', name: 'k1' });
    // A lab refuses the same file: Secrets must be on KMS v2 there.
    expect(lintEncryptionConfig(config).problems.filter((p) => p.level === 'error').length).toBeGreaterThan(0);
  });

  test('named resources map to the etcd prefixes the apiserver stores them under; wildcards are left to discovery', () => {
    expect(namedResources(lintEncryptionConfig(config, { forLab: false }).rules)).toEqual([
      { resource: 'secrets', prefix: '/registry/secrets/' },
      { resource: 'configmaps', prefix: '/registry/configmaps/' },
      { resource: 'deployments.apps', prefix: '/registry/deployments/' },
      { resource: 'widgets.example.com', prefix: '/registry/example.com/widgets/' },
    ]);
  });
});

describe('inspect --config: the config condition on raw etcd rows', () => {
  test('a value under a named, encrypted resource that is stored otherwise meets it; the rest do not', async () => {
    const { configCheck } = await import('./config-claims.js');
    const check = configCheck(lintEncryptionConfig(config, { forLab: false }).rules);
    const row = (key: string, cls: string, name?: string) =>
      ({ key, resource: '', bytes: 1, modRevision: '1', class: cls, ...(name ? { name } : {}) }) as never;
    expect(check.meets(row('/registry/configmaps/a/x', 'identity'))).toBe(true);
    expect(check.meets(row('/registry/configmaps/a/x', 'aescbc', 'k1'))).toBe(false);
    expect(check.meets(row('/registry/configmaps/a/x', 'aescbc', 'k0'))).toBe(true);
    expect(check.meets(row('/registry/deployments/a/d', 'identity'))).toBe(true);
    // Secrets are written by identity (listed first): no claim to encrypt them.
    expect(check.meets(row('/registry/secrets/a/s', 'identity'))).toBe(false);
    expect(check.meets(row('/registry/pods/a/p', 'identity'))).toBe(false);
  });
});
