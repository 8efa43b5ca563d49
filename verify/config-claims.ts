import { printable } from '../harness/common/printable.js';
import type { RowCheck } from '../harness/inspect/index.js';
import type { EncryptionRule, ProviderSpec } from '../harness/kube/encryption-config.js';
import { etcdPrefixOf } from '../harness/kube/etcd-prefix.js';
import { formatGroupResource, parseGroupResource, writerFor } from '../harness/kube/group-resource.js';
import { decided, type Decision } from './decision.js';
import type { EncryptionMetrics } from './encryption-metrics.js';
import type { EtcdFacts } from './etcd-evidence.js';
import { describeStored, storedAsPrefix, type StoredAs } from './stored-as.js';

/** writesAs is how a provider stores what it writes (aes and secretbox with their first key). */
export function writesAs(p: ProviderSpec): StoredAs {
  if ('kms' in p) return { class: 'kms-v2', name: p.kms.name };
  if ('kmsV1' in p) return { class: 'kms-v1', name: p.kmsV1.name };
  if ('identity' in p) return { class: 'identity' };
  const [kind, body] = Object.entries(p)[0] as ['aescbc' | 'aesgcm' | 'secretbox', { keys: Array<{ name: string }> }];
  return { class: kind, name: body.keys[0]?.name ?? '' };
}

/** The resources a config names one by one (no wildcard), each with the etcd prefix it is stored under. */
export function namedResources(rules: EncryptionRule[]): Array<{ resource: string; prefix: string }> {
  const names = [...new Set(rules.flatMap((r) => r.resources))].filter((r) => !r.startsWith('*.'));
  return names.map((r) => {
    const gr = parseGroupResource(r);
    // A group with a dot that is not one of Kubernetes' own (*.k8s.io) belongs to a CustomResourceDefinition.
    const custom = gr.group.includes('.') && !gr.group.endsWith('.k8s.io');
    return { resource: formatGroupResource(gr), prefix: etcdPrefixOf(gr, custom) };
  });
}

/**
 * judgeConfig compares what the config claims (each resource written by its entry's first provider) with what is
 * stored: raw etcd for the resources the config names, else what this apiserver read and wrote since it started.
 * Only encrypting claims are checked: a resource the config leaves to identity is not claimed to be encrypted.
 */
export function judgeConfig(rules: EncryptionRule[], etcd?: EtcdFacts, metrics?: EncryptionMetrics): Decision {
  const source = etcd ? 'etcd' : 'metrics';
  const seen: Array<{ resource: string; stored: StoredAs; count: number }> = etcd
    ? etcd.resources.flatMap((r) => r.stored.map((s) => ({ resource: r.resource, stored: s, count: s.count })))
    : (metrics?.transformations ?? [])
        .filter((t) => t.count > 0 && t.status === 'OK' && t.resource !== '')
        .map((t) => ({ resource: t.resource, stored: storedAsPrefix(t.prefix), count: t.count }));
  if (!etcd && !metrics)
    return decided('config', 'undecided', 'config needs raw etcd or the apiserver metrics to compare with');
  const checked = new Set<string>();
  const offenders: string[] = [];
  for (const s of seen) {
    const writer = writerFor(rules, parseGroupResource(s.resource));
    if (!writer || 'identity' in writer.provider) continue;
    checked.add(s.resource);
    const claim = writesAs(writer.provider);
    if (s.stored.class === claim.class && s.stored.name === claim.name) continue;
    offenders.push(
      `${printable(s.resource)}: the config writes it with ${describeStored(claim)} (entry ${printable(writer.rule)}), but ${s.count} ${etcd ? 'value(s) are stored' : 'value(s) were read or written'} as ${describeStored(s.stored)}`,
    );
  }
  if (offenders.length)
    return decided(
      source,
      'fail',
      `resources stored otherwise than the config claims: ${offenders.length} way(s)`,
      offenders,
    );
  if (checked.size === 0)
    return decided(
      source,
      'undecided',
      'no resource the config encrypts was seen (scanned in etcd, or read or written since the apiserver started)',
    );
  return decided(
    source,
    'pass',
    `${[...checked].map((r) => printable(r)).join(', ')}: stored as the config claims (${etcd ? 'every value in etcd now' : 'every value this apiserver read or wrote since it started'})`,
  );
}

/**
 * configCheck is `--fail-on config` for raw etcd rows (`kmslab inspect --config`): a value under a resource the
 * config names, encrypted by its entry's first provider, that is stored otherwise. Resources named only through a
 * wildcard (`*.apps`, `*.*`) are not checked: their etcd paths need the apiserver's discovery.
 */
export function configCheck(rules: EncryptionRule[]): RowCheck {
  const claims = namedResources(rules).flatMap((n) => {
    const writer = writerFor(rules, parseGroupResource(n.resource));
    if (!writer || 'identity' in writer.provider) return [];
    return [{ prefix: n.prefix, writes: writesAs(writer.provider) }];
  });
  return {
    kind: 'check',
    name: 'config',
    meets: (row) => {
      const claim = claims.find((c) => row.key.startsWith(c.prefix));
      return claim !== undefined && !(row.class === claim.writes.class && row.name === claim.writes.name);
    },
  };
}
