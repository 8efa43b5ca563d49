import { describe, expect, test } from 'vitest';
import { lintEncryptionConfig } from './encryption-config-lint.js';

const good = `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources:
      - secrets
      - configmaps
    providers:
      - kms:
          apiVersion: v2
          name: cloud-kms
          endpoint: unix:///var/run/kms/plugin.sock
          timeout: 3s
      - identity: {}
  - resources:
      - deployments.apps
    providers:
      - aesgcm:
          keys:
            - name: k1
              secret: ${Buffer.alloc(32, 1).toString('base64')}
      - identity: {}
`;

describe('a correct config', () => {
  test('has no problems, and yields its rules and the provider Secrets are written with', () => {
    const r = lintEncryptionConfig(good);
    expect(r.problems).toEqual([]);
    expect(r.providerName).toBe('cloud-kms');
    expect(r.rules[0]).toEqual({
      resources: ['secrets', 'configmaps'],
      providers: [{ kms: { name: 'cloud-kms', socket: '/var/run/kms/plugin.sock', timeout: '3s' } }, { identity: {} }],
    });
    expect(r.rules[1]!.providers[0]).toMatchObject({ aesgcm: { keys: [{ name: 'k1' }] } });
  });
});

// One change to the good config per rule; each must be reported at the line it concerns.
const cases: Array<[string, (s: string) => string, number, RegExp, 'error' | 'warning']> = [
  [
    'kms without apiVersion',
    (s) => s.replace('          apiVersion: v2\n', ''),
    9,
    /no apiVersion: it defaults to v1/,
    'error',
  ],
  ['KMS v1', (s) => s.replace('apiVersion: v2', 'apiVersion: v1'), 9, /KMS v1/, 'error'],
  [
    'an unknown kms apiVersion',
    (s) => s.replace('apiVersion: v2', 'apiVersion: v3'),
    9,
    /unsupported apiVersion v3/,
    'error',
  ],
  [
    'identity before kms',
    (s) => s.replace(/      - kms:([\s\S]*?)      - identity: \{\}\n/, '      - identity: {}\n      - kms:$1'),
    8,
    /identity comes before the kms provider/,
    'warning',
  ],
  ['a name with a colon', (s) => s.replace('name: cloud-kms', 'name: cloud:kms'), 10, /must not contain ':'/, 'error'],
  [
    'a duplicate kms name',
    (s) =>
      s.replace(
        '      - aesgcm:',
        '      - kms:\n          apiVersion: v2\n          name: cloud-kms\n          endpoint: unix:///x.sock\n      - aesgcm:',
      ),
    19,
    /duplicate KMS provider name cloud-kms/,
    'error',
  ],
  [
    'a tcp endpoint',
    (s) => s.replace('unix:///var/run/kms/plugin.sock', 'tcp://10.0.0.1:9000'),
    11,
    /only unix is supported/,
    'error',
  ],
  ['a zero timeout', (s) => s.replace('timeout: 3s', 'timeout: 0s'), 12, /positive duration/, 'error'],
  [
    'a timeout that is not a duration',
    (s) => s.replace('timeout: 3s', 'timeout: soon'),
    12,
    /positive duration/,
    'error',
  ],
  [
    'cachesize on v2',
    (s) => s.replace('timeout: 3s', 'timeout: 3s\n          cachesize: 1000'),
    13,
    /cachesize is not supported in v2/,
    'error',
  ],
  ['a typo (strict decoding)', (s) => s.replace('timeout: 3s', 'timeuot: 3s'), 12, /unknown field "timeuot"/, 'error'],
  [
    'two providers in one element',
    (s) => s.replace('      - identity: {}\n  - resources', '        identity: {}\n  - resources'),
    8,
    /more than one provider/,
    'error',
  ],
  [
    'a resource listed twice',
    (s) => s.replace('      - configmaps', '      - secrets'),
    6,
    /the same resource cannot be specified multiple times/,
    'error',
  ],
  [
    'a resource in two entries',
    (s) => s.replace('      - deployments.apps', '      - configmaps'),
    15,
    /also in resources\[0\]/,
    'warning',
  ],
  [
    'a resource masked by an earlier *.*',
    (s) => s.replace('      - secrets\n      - configmaps', '      - "*.*"'),
    14,
    /masked by earlier rule/,
    'error',
  ],
  ['a bare *', (s) => s.replace('      - configmaps', '      - "*"'), 6, /use '\*\.'/, 'error'],
  ['capital letters', (s) => s.replace('      - configmaps', '      - ConfigMaps'), 6, /capital letters/, 'error'],
  [
    'an events.k8s.io resource',
    (s) => s.replace('deployments.apps', 'events.events.k8s.io'),
    15,
    /use 'events'/,
    'error',
  ],
  [
    'the extensions group',
    (s) => s.replace('deployments.apps', 'ingresses.extensions'),
    15,
    /'extensions' group has been removed/,
    'error',
  ],
  [
    'an aesgcm key of the wrong length',
    (s) => s.replace(Buffer.alloc(32, 1).toString('base64'), Buffer.alloc(20, 1).toString('base64')),
    19,
    /got 20, expected one of \[16 24 32\]/,
    'error',
  ],
  [
    'a key that is not base64',
    (s) => s.replace(Buffer.alloc(32, 1).toString('base64'), 'not base64!'),
    19,
    /base64/,
    'error',
  ],
  [
    'no providers',
    (s) => s.replace(/    providers:\n      - aesgcm:[\s\S]*$/, '    providers: []\n'),
    16,
    /at least one provider/,
    'error',
  ],
  [
    'secrets written in plaintext',
    (s) => s.replace(/      - kms:([\s\S]*?)      - identity: \{\}\n/, '      - identity: {}\n      - kms:$1'),
    4,
    /secrets are written with identity/,
    'error',
  ],
  [
    'the wrong kind',
    (s) => s.replace('kind: EncryptionConfiguration', 'kind: Config'),
    1,
    /expected apiserver.config.k8s.io\/v1, EncryptionConfiguration/,
    'error',
  ],
  ['broken YAML', (s) => s.replace('      - configmaps', '    - configmaps: [\n'), 6, /block sequence/, 'error'],
];

test.each(cases)('%s is reported', (_title, mutate, line, message, level) => {
  const r = lintEncryptionConfig(mutate(good));
  const hit = r.problems.find((p) => message.test(p.message));
  expect(hit, JSON.stringify(r.problems, null, 2)).toBeDefined();
  expect(hit!.level).toBe(level);
  expect(hit!.line).toBe(line);
});
