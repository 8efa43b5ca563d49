import { describe, expect, test } from 'vitest';
import { describeFailOn, meets, parseFailOn, prefixOf, type Stored } from './fail-on.js';

const rows: Record<string, Stored> = {
  plain: { class: 'identity' },
  v2: { class: 'kms-v2', name: 'kmslab', kmsV2: { keyId: 'k2' } },
  other: { class: 'kms-v2', name: 'other', kmsV2: { keyId: 'k2' } },
  v1: { class: 'kms-v1', name: 'legacy' },
  cbc: { class: 'aescbc', name: 'key1' },
  gcm: { class: 'aesgcm', name: 'key1' },
  box: { class: 'secretbox', name: 'key1' },
  bad: { class: 'invalid' },
  odd: { class: 'unknown' },
};

// Which rows each condition catches.
const caught = (text: string) =>
  Object.entries(rows)
    .filter(([, r]) => meets(r, parseFailOn([text])[0]!))
    .map(([n]) => n);

describe('inspect --fail-on: the per-value conditions verify shares', () => {
  test('each provider and prefix condition catches exactly its values', () => {
    expect(caught('kms-v1')).toEqual(['v1']);
    expect(caught('aescbc')).toEqual(['cbc']);
    expect(caught('aesgcm')).toEqual(['gcm']);
    expect(caught('secretbox')).toEqual(['box']);
    expect(caught('provider!=kmslab')).toEqual(['plain', 'other', 'v1', 'cbc', 'gcm', 'box', 'bad', 'odd']);
    expect(caught('not-prefix=k8s:enc:kms:v2:')).toEqual(['plain', 'v1', 'cbc', 'gcm', 'box', 'bad', 'odd']);
    expect(caught('not-prefix=k8s:enc:kms:v2:kmslab:')).toEqual([
      'plain',
      'other',
      'v1',
      'cbc',
      'gcm',
      'box',
      'bad',
      'odd',
    ]);
    expect(caught('not-prefix=k8s:enc:')).toEqual(['plain', 'bad', 'odd']);
  });

  test('prefixes are spelled as the apiserver writes them; conditions read back as written', () => {
    expect(prefixOf(rows.v2!)).toBe('k8s:enc:kms:v2:kmslab:');
    expect(prefixOf(rows.cbc!)).toBe('k8s:enc:aescbc:v1:key1:');
    expect(prefixOf(rows.plain!)).toBe('');
    expect(prefixOf(rows.bad!)).toBeUndefined();
    for (const t of ['provider!=a', 'not-prefix=k8s:enc:kms:v2:', 'kms-v1', 'key-id=x'])
      expect(describeFailOn(parseFailOn([t])[0]!)).toBe(t);
    expect(() => parseFailOn(['provider=a'])).toThrow(/not a condition; use plaintext.*provider!=NAME/);
  });
});
