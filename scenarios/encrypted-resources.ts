import type { Lab } from '../harness/lab.js';
import { createCrdFor } from '../harness/kube/crd.js';
import { discover } from '../harness/kube/discovery.js';
import { kmsThenIdentity, type EncryptionRule } from '../harness/kube/encryption-config.js';
import { etcdPrefixOf, storedAs } from '../harness/kube/etcd-prefix.js';
import {
  formatGroupResource,
  kmsPatterns,
  kmsProviderOf,
  parseGroupResource,
  writerFor,
} from '../harness/kube/group-resource.js';
import type { ServedResource } from '../harness/kube/rest-objects.js';

/** EncryptedResource is a served resource the lab's config writes with a KMS v2 provider, and where it is stored. */
export interface EncryptedResource extends ServedResource {
  /** As a config names it: `secrets`, `deployments.apps`, `widgets.example.com`. */
  name: string;
  /** The KMS v2 provider that writes it: its values start `k8s:enc:kms:v2:<provider>:`. */
  provider: string;
  /** The config's resource string that picked the provider: `configmaps`, `*.apps`, `*.*`. */
  rule: string;
  /** Where its objects are in etcd, with a trailing '/'. */
  etcdPrefix: string;
}

/** EncryptedResources is everything a lab's config encrypts with KMS v2, and what kmslab cannot prove (and why). */
export interface EncryptedResources {
  resources: EncryptedResource[];
  skipped: Array<{ resource: string; why: string }>;
  /** CRDs kmslab made for custom resources the config names and nothing served yet. */
  createdCrds: string[];
  /** How step names call them: `Secrets` for kmslab's own config, else the config's resource strings. */
  label: string;
  /** `every Secret`, or `every object of secrets, configmaps`. */
  every: string;
}

const SECRETS: ServedResource = {
  group: '',
  version: 'v1',
  resource: 'secrets',
  kind: 'Secret',
  namespaced: true,
  verbs: ['create', 'delete', 'get', 'list', 'update'],
  custom: false,
};

const REWRITABLE = ['list', 'get', 'update'];

/** kmsRulesOf is the EncryptionConfiguration a lab runs with KMS on: the user's own, or kmslab's (Secrets only). */
export function kmsRulesOf(lab: Lab): EncryptionRule[] {
  return lab.kmsRules ?? [kmsThenIdentity(lab.providerName, lab.kmsSocket)];
}

/** isSecrets: the resource is core Secrets (read and written through the lab's typed Secret calls, on any backend). */
export const isSecrets = (r: Pick<ServedResource, 'group' | 'resource'>) => r.group === '' && r.resource === 'secrets';

/** labelOf names what a config encrypts with KMS v2, for step names, before anything is asked of the apiserver. */
export function labelOf(rules: EncryptionRule[]): Pick<EncryptedResources, 'label' | 'every'> {
  const patterns = kmsPatterns(rules);
  if (patterns.length === 1 && patterns[0] === 'secrets') return { label: 'Secrets', every: 'every Secret' };
  return { label: patterns.join(', '), every: `every object of ${patterns.join(', ')}` };
}

/**
 * findEncrypted works out every resource the lab's config writes with KMS v2: exact names, `*.<group>`, `*.` and
 * `*.*` expanded with the apiserver's discovery, each with its provider and etcd prefix. A custom resource the config
 * names that nothing serves gets a CRD, so there is something to store. Resources that cannot be rewritten (no list
 * or update) or are stored with another are listed as skipped, with the reason. kmslab's own config (Secrets only)
 * asks the apiserver nothing.
 */
export async function findEncrypted(lab: Lab, rules = kmsRulesOf(lab)): Promise<EncryptedResources> {
  const named = labelOf(rules);
  const patterns = kmsPatterns(rules).map((text) => ({ text, gr: parseGroupResource(text) }));
  const providerOf = (group: string, resource: string) => {
    const writer = writerFor(rules, storedAs({ group, resource }));
    const provider = kmsProviderOf(writer);
    return provider && writer ? { provider, rule: writer.rule } : undefined;
  };
  if (patterns.length === 1 && patterns[0]!.text === 'secrets') {
    const writer = providerOf('', 'secrets')!;
    return { ...named, resources: [encrypted(SECRETS, writer)], skipped: [], createdCrds: [] };
  }
  const groups = patterns.some((p) => p.gr.group === '*') ? 'all' : new Set(patterns.map((p) => p.gr.group));
  let found = await discover(lab.api, groups);
  // Custom resources named exactly that nothing serves: a CRD each (only groups with a dot can be CRD groups).
  const createdCrds: string[] = [];
  for (const { text, gr } of patterns) {
    const served = found.served.some((s) => s.group === gr.group && s.resource === gr.resource);
    if (gr.resource !== '*' && gr.group.includes('.') && !served) {
      await createCrdFor(lab.api, gr);
      createdCrds.push(text);
    }
  }
  if (createdCrds.length) found = await discover(lab.api, groups);

  const resources: EncryptedResource[] = [];
  const skipped: EncryptedResources['skipped'] = found.unreadable.map((u) => ({
    resource: u.group,
    why: `discovery failed: ${u.why}`,
  }));
  for (const s of found.served) {
    const writer = providerOf(s.group, s.resource);
    if (!writer) continue;
    const name = formatGroupResource(s);
    const stored = storedAs(s);
    if (stored.group !== s.group || stored.resource !== s.resource) {
      skipped.push({ resource: name, why: `the same objects as ${formatGroupResource(stored)} (stored once)` });
    } else if (!REWRITABLE.every((v) => s.verbs.includes(v))) {
      skipped.push({
        resource: name,
        why: `served with verbs [${s.verbs.join(', ')}]: nothing stored that list and update could rewrite`,
      });
    } else resources.push(encrypted(s, writer));
  }
  for (const { text, gr } of patterns) {
    if (gr.resource !== '*' && !found.served.some((s) => s.group === gr.group && s.resource === gr.resource))
      skipped.push({ resource: text, why: 'not served by this apiserver: nothing can be stored under it' });
  }
  resources.sort((a, b) => Number(isSecrets(b)) - Number(isSecrets(a)));
  return { ...named, resources, skipped, createdCrds };
}

function encrypted(s: ServedResource, writer: { provider: string; rule: string }): EncryptedResource {
  return { ...s, name: formatGroupResource(s), ...writer, etcdPrefix: etcdPrefixOf(s, s.custom) };
}
