import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { EncryptionRule, ProviderSpec } from './encryption-config.js';
import { etcdPrefixOf, storedAs } from './etcd-prefix.js';
import { formatGroupResource, kmsPatterns, kmsProviderOf, parseGroupResource, writerFor } from './group-resource.js';
import { kindFor } from './crd.js';

const kms = (name: string): ProviderSpec => ({ kms: { name, socket: '/s' } });
const identity: ProviderSpec = { identity: {} };
const aes: ProviderSpec = { aesgcm: { keys: [{ name: 'k', secret: 'x' }] } };
const rule = (resources: string[], ...providers: ProviderSpec[]): EncryptionRule => ({ resources, providers });
const gr = (text: string) => parseGroupResource(text);
const writer = (rules: EncryptionRule[], text: string) => kmsProviderOf(writerFor(rules, gr(text)));

describe('which provider writes a resource (as kube-apiserver picks it)', () => {
  test('resource strings parse as the apiserver reads them, and print back', () => {
    expect(gr('secrets')).toEqual({ group: '', resource: 'secrets' });
    expect(gr('deployments.apps')).toEqual({ group: 'apps', resource: 'deployments' });
    expect(gr('widgets.example.com')).toEqual({ group: 'example.com', resource: 'widgets' });
    expect(gr('*.')).toEqual({ group: '', resource: '*' });
    expect(gr('*.*')).toEqual({ group: '*', resource: '*' });
    const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/);
    const group = fc.oneof(
      fc.constant(''),
      fc.constant('*'),
      fc.array(name, { minLength: 1, maxLength: 3 }).map((p) => p.join('.')),
    );
    fc.assert(
      fc.property(fc.oneof(name, fc.constant('*')), group, (resource, g) => {
        const text = g ? `${resource}.${g}` : resource === '*' ? '*.' : resource;
        expect(gr(text)).toEqual({ group: g, resource });
        expect(formatGroupResource(gr(text))).toBe(text);
      }),
    );
  });

  test('an exact name beats *.<group>, which beats *.*; nothing matching means plaintext', () => {
    const rules = [
      rule(['secrets'], kms('s')),
      rule(['*.apps'], kms('apps')),
      rule(['*.'], kms('core')),
      rule(['*.*'], kms('all')),
    ];
    expect(writer(rules, 'secrets')).toBe('s');
    expect(writer(rules, 'configmaps')).toBe('core');
    expect(writer(rules, 'deployments.apps')).toBe('apps');
    expect(writer(rules, 'jobs.batch')).toBe('all');
    expect(writer(rules, 'widgets.example.com')).toBe('all');
    expect(writerFor([rule(['secrets'], kms('s'))], gr('configmaps'))).toBeUndefined();
  });

  test('a name in two entries is written by the first entry; only KMS v2 writers count as KMS', () => {
    const rules = [rule(['configmaps'], identity, kms('late')), rule(['configmaps', 'secrets'], kms('k'))];
    expect(writerFor(rules, gr('configmaps'))).toEqual({ provider: identity, rule: 'configmaps' });
    expect(writer(rules, 'configmaps')).toBeUndefined();
    expect(writer(rules, 'secrets')).toBe('k');
    expect(kmsPatterns(rules)).toEqual(['secrets']);
    expect(kmsPatterns([rule(['secrets'], kms('k')), rule(['*.apps'], aes), rule(['*.'], kms('c'))])).toEqual([
      'secrets',
      '*.',
    ]);
  });
});

describe('where the apiserver stores a resource in etcd', () => {
  test('most built-ins under /registry/<resource>/, the storage registry exceptions as named', () => {
    const at = (text: string, custom = false) => etcdPrefixOf(gr(text), custom);
    expect(at('secrets')).toBe('/registry/secrets/');
    expect(at('configmaps')).toBe('/registry/configmaps/');
    expect(at('deployments.apps')).toBe('/registry/deployments/');
    expect(at('services')).toBe('/registry/services/specs/');
    expect(at('endpoints')).toBe('/registry/services/endpoints/');
    expect(at('nodes')).toBe('/registry/minions/');
    expect(at('replicationcontrollers')).toBe('/registry/controllers/');
    expect(at('ingresses.networking.k8s.io')).toBe('/registry/ingress/');
    expect(at('apiservices.apiregistration.k8s.io')).toBe('/registry/apiregistration.k8s.io/apiservices/');
    expect(at('events.events.k8s.io')).toBe('/registry/events/');
    expect(storedAs(gr('events.events.k8s.io'))).toEqual(gr('events'));
    expect(at('widgets.example.com', true)).toBe('/registry/example.com/widgets/');
  });

  test('a CRD gets a Kind from its plural', () => {
    expect(kindFor('widgets')).toBe('Widget');
    expect(kindFor('classes')).toBe('Classe');
    expect(kindFor('glass')).toBe('Glass');
    expect(kindFor('data')).toBe('Data');
  });
});
