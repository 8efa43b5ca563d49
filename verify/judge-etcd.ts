import { printable } from '../harness/common/printable.js';
import { describeCondition, isValueCondition, type Condition } from './conditions.js';
import { decided, type Decision } from './decision.js';
import type { EtcdFacts } from './etcd-evidence.js';

const SCOPE = 'every value stored in etcd now';

/** judgeByEtcd decides a condition from raw etcd: what is stored now, value by value — the strongest evidence. */
export function judgeByEtcd(f: EtcdFacts, c: Condition, resources: string[]): Decision {
  const at = f.revision ? ` at revision ${f.revision}` : '';
  const scanned = f.resources.filter((r) => resources.includes(r.resource));
  const total = scanned.reduce((n, r) => n + r.total, 0);
  if (c.kind === 'coverage') {
    const r = f.resources.find((x) => x.resource === c.resource);
    if (!r)
      return decided(
        'etcd',
        'undecided',
        `${printable(c.resource)} was not scanned (add --resource ${printable(c.resource)})`,
      );
    if (r.total === 0) return decided('etcd', 'pass', `no ${printable(c.resource)} is stored${at}`);
    const kms = r.stored.filter((s) => s.class === 'kms-v2').reduce((n, s) => n + s.count, 0);
    const share = (100 * kms) / r.total;
    return decided(
      'etcd',
      share < c.min ? 'fail' : 'pass',
      `${kms} of ${r.total} ${printable(c.resource)} value(s) (${share.toFixed(1)}%) are stored with KMS v2${at}`,
    );
  }
  if (!isValueCondition(c)) return decided('etcd', 'undecided', `raw etcd cannot decide ${c.kind}`);
  const o = f.offending[describeCondition(c)];
  if (!o) return decided('etcd', 'undecided', 'not scanned');
  return o.count > 0
    ? decided('etcd', 'fail', `${o.count} of ${total} value(s) under ${scopeOf(scanned)} match${at}`, o.keys)
    : decided('etcd', 'pass', `none of ${total} value(s) under ${scopeOf(scanned)} matches: ${SCOPE}${at}`);
}

const scopeOf = (rs: EtcdFacts['resources']) => rs.map((r) => printable(r.prefix)).join(', ');
