import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { checkProviderName } from './encryption-config.js';
import { secretsProviders } from '../backends/sim/sim-member.js';
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
    /unsupported apiVersion "v3"/,
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
    /duplicate KMS provider name "cloud-kms"/,
    'error',
  ],
  [
    'a tcp endpoint',
    (s) => s.replace('unix:///var/run/kms/plugin.sock', 'tcp://10.0.0.1:9000'),
    11,
    /only unix is supported/,
    'error',
  ],
  ['a zero timeout', (s) => s.replace('timeout: 3s', 'timeout: 0s'), 12, /timeout "0s" is too short/, 'error'],
  ['a negative timeout', (s) => s.replace('timeout: 3s', 'timeout: -1s'), 12, /timeout "-1s" is too short/, 'error'],
  [
    'a timeout longer than a Go duration holds',
    (s) => s.replace('timeout: 3s', 'timeout: 2562048h'),
    12,
    /timeout "2562048h" is too long/,
    'error',
  ],
  ['a timeout in days (Go has none)', (s) => s.replace('timeout: 3s', 'timeout: 1d'), 12, /not a duration/, 'error'],
  [
    'a timeout that is not a duration',
    (s) => s.replace('timeout: 3s', 'timeout: soon'),
    12,
    /timeout "soon" is not a duration/,
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

describe('hostile input: every problem with its line, nothing raw or unbounded echoed, no parser internals', () => {
  const withName = (yamlName: string) => good.replace('name: cloud-kms', `name: ${yamlName}`);
  const TERMINAL_ACTS_ON = /[\p{Cc}\u202a-\u202e\u2066-\u2069]/u;
  const problemsOf = (text: string) => {
    const r = lintEncryptionConfig(text);
    for (const p of r.problems) {
      expect(p.message).not.toMatch(TERMINAL_ACTS_ON);
      expect(p.message.length).toBeLessThan(600);
    }
    return r.problems;
  };

  test.each([
    ['a sequence', '[a, b]', /must be a string, but kube-apiserver would read a sequence/],
    ['a python object tag (read as a list)', '!!python/object:os.system [ls]', /would read a sequence/],
    ['a mapping', '{a: b}', /would read a mapping/],
    ['a number', '123', /would read the number "123"/],
    ['yes, a boolean in YAML 1.1', 'yes', /the unquoted "yes" as a boolean \(YAML 1\.1\); quote it/],
    ['0x1f, a number', '0x1f', /the number "0x1f"/],
    ['on, a boolean in YAML 1.1 only', 'on', /the unquoted "on" as a boolean/],
    ['a binary tag', '!!binary aGVsbG8=', /tagged tag:yaml.org,2002:binary/],
  ])('a name that is not a string (%s) is an error at its line', (_what, yamlName, message) => {
    const problems = problemsOf(withName(yamlName));
    expect(problems).toContainEqual({ line: 10, level: 'error', message: expect.stringMatching(message) });
  });

  test('a quoted "yes" is a string, and used', () => {
    expect(lintEncryptionConfig(withName('"yes"')).problems).toEqual([]);
  });

  test.each([
    ['Unicode', 'clé'],
    ['300 characters', 'k'.repeat(300)],
    ['a NUL byte', '"a\\0b"'],
    ['an escape sequence', '"a\\e]0;pwned\\ab"'],
    ['a bidi override', '"a\\u202eb"'],
    ['capitals', 'Cloud-KMS'],
    ['a space', '"cloud kms"'],
  ])('a name kube-apiserver accepts but kmslab cannot use (%s) is an error at its line', (_what, yamlName) => {
    const problems = problemsOf(withName(yamlName));
    expect(problems).toContainEqual({
      line: 10,
      level: 'error',
      message: expect.stringMatching(/cannot be used with kmslab: it needs lower-case letters, digits/),
    });
  });

  test('a 4 MB name is cut in the echo, with its length', () => {
    const problems = problemsOf(withName('n'.repeat(4 * 1024 * 1024)));
    expect(problems).toHaveLength(1);
    expect(problems[0]!.message).toContain(`${'n'.repeat(64)}… (4194304 characters in all)`);
  });

  test('any name: accepted exactly when kmslab can use it, problems always escaped and bounded', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ unit: 'binary', maxLength: 80 }), fc.stringMatching(/^[a-z0-9.-]{1,70}$/)),
        (name) => {
          const problems = problemsOf(withName(JSON.stringify(name)));
          let usable = true;
          try {
            checkProviderName(name);
          } catch {
            usable = false;
          }
          // JSON escapes are YAML double-quoted escapes, except that YAML refuses raw controls and lone surrogates.
          if (/[\p{Cs}]/u.test(name)) return;
          expect(problems.length === 0).toBe(usable && !name.includes(':'));
        },
      ),
      { numRuns: 300 },
    );
  });

  test('a second YAML document is an error at its line (the apiserver would ignore it)', () => {
    const problems = problemsOf(`${good}---\n${good}`);
    expect(problems).toEqual([
      {
        line: 23,
        level: 'error',
        message: expect.stringMatching(/a second YAML document: kube-apiserver reads only the first/),
      },
    ]);
    expect(problemsOf(`---\n${good}---\n`)).toEqual([]);
  });

  test.each([
    ['flow sequences', `resources: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`, 1],
    ['a line of block sequences', `resources:\n  ${'- '.repeat(50_000)}x\n`, 2],
    [
      'indented mappings',
      `resources:\n${Array.from({ length: 5_000 }, (_, i) => `${' '.repeat(i + 2)}a${i}:`).join('\n')} x\n`,
      33,
    ],
  ])('nesting past the limit (%s) is one clear error, not a stack overflow', (_what, text, line) => {
    const problems = problemsOf(`apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n${text}`);
    expect(problems).toEqual([
      { line: line + 2, level: 'error', message: expect.stringMatching(/nest deeper than 32 levels/) },
    ]);
  });

  test('parse errors read as the problem alone, without the parser’s own position or advice', () => {
    const problems = problemsOf(good.replace('      - configmaps', '    - configmaps: [\n'));
    expect(problems.length).toBeGreaterThan(0);
    for (const p of problems) expect(p.message).not.toMatch(/at line \d+, column|parseAllDocuments|\n/);
  });

  test.each(['1m30s', '1.5s', '500ms', '.5s', '+3s', '2h45m'])('a timeout Go accepts (%s) passes', (timeout) => {
    expect(lintEncryptionConfig(good.replace('timeout: 3s', `timeout: ${timeout}`)).problems).toEqual([]);
  });
});

test.each([
  ['1m30s', 90_000],
  ['1.5s', 1_500],
  ['500ms', 500],
  ['2h45m', 9_900_000],
])('a timeout the lint passes (%s) is the one the sim backend runs', (timeout, ms) => {
  const linted = lintEncryptionConfig(good.replace('timeout: 3s', `timeout: ${timeout}`));
  expect(linted.problems).toEqual([]);
  expect(secretsProviders(linted.rules)[0]).toEqual({ kms: { name: 'cloud-kms', timeoutMs: ms } });
});
