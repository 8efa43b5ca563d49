import type { EncryptionRule, ProviderSpec } from './encryption-config.js';

/** GroupResource is a resource as an EncryptionConfiguration names it: `group` '' is the core group, '*' a wildcard. */
export interface GroupResource {
  group: string;
  resource: string;
}

/**
 * parseGroupResource reads a resource string as kube-apiserver does (up to the first dot is the resource, the rest
 * the group): `secrets`, `deployments.apps`, `*.apps`, `*.` (every core resource), `*.*` (every resource).
 */
export function parseGroupResource(text: string): GroupResource {
  const dot = text.indexOf('.');
  return dot < 0 ? { group: '', resource: text } : { group: text.slice(dot + 1), resource: text.slice(0, dot) };
}

/** formatGroupResource writes a resource back the way configs and kubectl name it: `secrets`, `deployments.apps`. */
export function formatGroupResource(gr: GroupResource): string {
  if (gr.resource === '*' && gr.group === '') return '*.';
  return gr.group ? `${gr.resource}.${gr.group}` : gr.resource;
}

/** The provider that writes a resource, and the config entry's resource string that chose it. */
export interface Writer {
  provider: ProviderSpec;
  /** The resource string of the matching entry: `configmaps`, `*.apps`, `*.*`. */
  rule: string;
}

/**
 * writerFor is the provider kube-apiserver writes a resource with: the providers of every entry naming the resource
 * exactly (in order), else of `*.<group>`, else of `*.*`; the first of them writes. Undefined: no entry covers it,
 * so it is stored unencrypted.
 */
export function writerFor(rules: EncryptionRule[], gr: GroupResource): Writer | undefined {
  const candidates = [gr, { group: gr.group, resource: '*' }, { group: '*', resource: '*' }];
  for (const want of candidates) {
    for (const rule of rules) {
      const text = rule.resources.find((r) => {
        const p = parseGroupResource(r);
        return p.group === want.group && p.resource === want.resource;
      });
      if (text !== undefined && rule.providers[0]) return { provider: rule.providers[0], rule: text };
    }
  }
  return undefined;
}

/** kmsProviderOf is the KMS v2 provider name a writer writes with, or undefined for any other provider. */
export function kmsProviderOf(writer: Writer | undefined): string | undefined {
  return writer && 'kms' in writer.provider ? writer.provider.kms.name : undefined;
}

/**
 * kmsPatterns lists the config's resource strings (names and wildcards) that are written with a KMS v2 provider, in
 * config order; a name listed again in a later entry counts where it is written.
 */
export function kmsPatterns(rules: EncryptionRule[]): string[] {
  const all = [...new Set(rules.flatMap((r) => r.resources))];
  return all.filter((r) => kmsProviderOf(writerFor(rules, parseGroupResource(r))) !== undefined);
}
