import { stringify } from 'yaml';
import { KmslabError } from '../common/errors.js';

/**
 * A provider in an EncryptionConfiguration. `kms` is always KMS v2 here; `kmsV1` is the deprecated KMS v1 (needs
 * `--feature-gates=KMSv1=true` since 1.29), kept apart so nothing that handles kmslab's v2 plugin mistakes it for one.
 */
export type ProviderSpec =
  | { kms: { name: string; socket: string; timeout?: string } }
  | { kmsV1: { name: string; socket: string; cachesize?: number; timeout?: string } }
  | { identity: Record<string, never> }
  | { aesgcm: { keys: Array<{ name: string; secret: string }> } }
  | { aescbc: { keys: Array<{ name: string; secret: string }> } }
  | { secretbox: { keys: Array<{ name: string; secret: string }> } };

export interface EncryptionRule {
  resources: string[];
  providers: ProviderSpec[];
}

/** kmsThenIdentity is the usual rule: write with KMS v2, still read what was stored in plaintext before. */
export function kmsThenIdentity(name: string, socket: string, resources = ['secrets']): EncryptionRule {
  return { resources, providers: [{ kms: { name, socket } }, { identity: {} }] };
}

/** identityOnly stores the resources unencrypted: the "before enabling encryption" state of a cluster. */
export function identityOnly(resources = ['secrets']): EncryptionRule {
  return { resources, providers: [{ identity: {} }] };
}

/** pointAt returns the rules with every kms provider's endpoint on this socket (the lab's plugin, or its proxy). */
export function pointAt(rules: EncryptionRule[], socket: string): EncryptionRule[] {
  return rules.map((r) => ({
    ...r,
    providers: r.providers.map((p) => ('kms' in p ? { kms: { ...p.kms, socket } } : p)),
  }));
}

/**
 * replaceKms returns the rules with each KMS v2 provider replaced by the providers named by `names(its name)`, on the
 * same socket: `(n) => [n + '-b', n]` puts a new provider in front of every existing one, whatever the config.
 */
export function replaceKms(rules: EncryptionRule[], names: (name: string) => string[]): EncryptionRule[] {
  return rules.map((r) => ({
    ...r,
    providers: r.providers.flatMap((p): ProviderSpec[] =>
      'kms' in p ? names(p.kms.name).map((name) => ({ kms: { ...p.kms, name } })) : [p],
    ),
  }));
}

/** encryptionConfigYaml renders an `apiserver.config.k8s.io/v1` EncryptionConfiguration. */
export function encryptionConfigYaml(rules: EncryptionRule[]): string {
  return stringify({
    apiVersion: 'apiserver.config.k8s.io/v1',
    kind: 'EncryptionConfiguration',
    resources: rules.map((rule) => ({
      resources: rule.resources,
      providers: rule.providers.map((p) =>
        'kms' in p
          ? {
              kms: {
                apiVersion: 'v2',
                name: p.kms.name,
                endpoint: `unix://${p.kms.socket}`,
                timeout: p.kms.timeout ?? '3s',
              },
            }
          : 'kmsV1' in p
            ? {
                kms: {
                  apiVersion: 'v1',
                  name: p.kmsV1.name,
                  endpoint: `unix://${p.kmsV1.socket}`,
                  cachesize: p.kmsV1.cachesize ?? 1000,
                  timeout: p.kmsV1.timeout ?? '3s',
                },
              }
            : p,
      ),
    })),
  });
}

/**
 * checkProviderName keeps KMS provider names to what kmslab can show and match byte for byte: lower-case letters,
 * digits, '-' and '.' (the apiserver itself only forbids ':'; the name is part of every stored value's prefix).
 */
export function checkProviderName(name: string): void {
  if (!/^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$/.test(name)) {
    throw new KmslabError(
      'usage',
      `KMS provider name "${name}" is not valid: use lower-case letters, digits, '-' and '.' (at most 63)`,
    );
  }
}
