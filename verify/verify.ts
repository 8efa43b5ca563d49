import type { EncryptionRule } from '../harness/kube/encryption-config.js';
import type { LintProblem } from '../harness/kube/encryption-config-lint.js';
import { printable } from '../harness/common/printable.js';
import { runCanary, type CanaryFacts } from './canary.js';
import { ClusterUnreadable, getText, type ClusterApi } from './cluster-api.js';
import type { CloudAudit } from './cloud-audit.js';
import {
  DECIDED_BY,
  describeCondition,
  isValueCondition,
  meetsValue,
  type Condition,
  type Source,
} from './conditions.js';
import { judgeConfig, namedResources } from './config-claims.js';
import { decided, type Decision, type Outcome } from './decision.js';
import { encryptionMetrics, type EncryptionMetrics } from './encryption-metrics.js';
import { readEtcd, type EtcdFacts, type EtcdTarget } from './etcd-evidence.js';
import { readHealth, type HealthFacts } from './health.js';
import { cloudFacts, judgeCloud, type CloudExpectation, type CloudFacts } from './judge-cloud.js';
import { judgeByEtcd } from './judge-etcd.js';
import { judgeByMetrics } from './judge-metrics.js';
import { parsePrometheusText } from './prometheus-text.js';
import { ruleOf, type Rule } from './rules.js';
import { describeStored, storedAsPrefix } from './stored-as.js';

export interface VerifyOptions {
  /** The cluster, through its API (metrics, health checks, the canary). */
  api?: ClusterApi;
  conditions: Condition[];
  /** The resources value conditions are about, as the apiserver names them (`secrets`, `deployments.apps`). Default secrets. */
  resources?: string[];
  canary?: boolean;
  cloudAudit?: { audit: CloudAudit; expect: CloudExpectation };
  etcd?: EtcdTarget;
  config?: { rules: EncryptionRule[]; problems: LintProblem[] };
}

/** How far each source could be used. */
export interface SourceState {
  source: Source;
  state: 'used' | 'not-given' | 'forbidden' | 'unreadable';
  detail: string;
}

export interface ConditionResult {
  condition: string;
  outcome: Outcome;
  /** The source whose answer stands (the strongest that decided). */
  decidedBy?: Source;
  decisions: Decision[];
  rule: Rule;
}

export interface VerifyReport {
  sources: SourceState[];
  results: ConditionResult[];
  /** Problems of --config, with their lines (identity listed before the kms provider, KMS v1…). */
  configProblems: LintProblem[];
  evidence: {
    metrics?: EncryptionMetrics;
    health?: HealthFacts;
    canary?: CanaryFacts;
    cloud?: CloudFacts;
    etcd?: EtcdFacts;
  };
  /** 0 every condition passed, 1 one failed, 3 one could not be decided or a source asked for could not be read. */
  exitCode: 0 | 1 | 3;
  seconds: number;
}

/**
 * verify gathers the evidence asked for and decides each condition with the strongest source that can: raw etcd
 * for what is stored now, else the apiserver's own counters since it started (and a canary for what a write does
 * now), the health check for now, the cloud's audit export for its span. A condition no source can decide is
 * "undecided" — never a pass. Only ClusterUnreadable escapes: the cluster could not be asked at all.
 */
export async function verify(o: VerifyOptions): Promise<VerifyReport> {
  const started = performance.now();
  const resources = o.resources?.length ? o.resources : ['secrets'];
  const sources: SourceState[] = [];
  const evidence: VerifyReport['evidence'] = {};
  const wants = (s: Source) => o.conditions.some((c) => DECIDED_BY[c.kind].includes(s));

  if (o.api) {
    const m = await getText(o.api, '/metrics');
    if (m.status === 200) {
      evidence.metrics = encryptionMetrics(parsePrometheusText(m.body).samples);
      sources.push({ source: 'metrics', state: 'used', detail: metricsDetail(evidence.metrics) });
    } else sources.push(refused('metrics', 'GET /metrics', m));
    const h = await readHealth(o.api);
    if (h.kmsProviders.status === 401 || h.kmsProviders.status === 403)
      sources.push(refused('health', 'GET /healthz/kms-providers', h.kmsProviders));
    else {
      evidence.health = h;
      sources.push({
        source: 'health',
        state: 'used',
        detail: `/healthz/kms-providers: HTTP ${h.kmsProviders.status}`,
      });
    }
    if (o.canary) {
      try {
        evidence.canary = await runCanary(o.api);
        sources.push({ source: 'canary', state: 'used', detail: canaryDetail(evidence.canary) });
      } catch (error) {
        if (error instanceof ClusterUnreadable) throw error;
        sources.push({ source: 'canary', state: 'unreadable', detail: printable((error as Error).message, 300) });
      }
    } else sources.push({ source: 'canary', state: 'not-given', detail: 'opt-in: --canary writes a Secret' });
  } else
    for (const s of ['metrics', 'health', 'canary'] as const)
      sources.push({ source: s, state: 'not-given', detail: 'no --kubeconfig' });

  if (o.cloudAudit) {
    evidence.cloud = cloudFacts(o.cloudAudit.audit, o.cloudAudit.expect);
    sources.push({
      source: 'cloud-audit',
      state: 'used',
      detail: `${evidence.cloud.kmsCalls} KMS call(s), ${evidence.cloud.format}`,
    });
  } else if (wants('cloud-audit'))
    sources.push({ source: 'cloud-audit', state: 'not-given', detail: 'no --cloud-audit FILE' });

  if (o.etcd) {
    const prefixes = resources.map((r) => ({ resource: r, prefix: `/registry/${r}/` }));
    for (const c of o.conditions)
      if (c.kind === 'coverage' && !prefixes.some((p) => p.resource === c.resource))
        prefixes.push({ resource: c.resource, prefix: `/registry/${c.resource}/` });
    if (o.config && o.conditions.some((c) => c.kind === 'config'))
      for (const n of namedResources(o.config.rules))
        if (!prefixes.some((p) => p.prefix === n.prefix)) prefixes.push(n);
    try {
      evidence.etcd = await readEtcd(o.etcd, prefixes, o.conditions);
      sources.push({
        source: 'etcd',
        state: 'used',
        detail: `${prefixes.map((p) => printable(p.prefix)).join(', ')} at revision ${evidence.etcd.revision ?? '-'}`,
      });
    } catch (error) {
      sources.push({
        source: 'etcd',
        state: 'unreadable',
        detail: printable(`could not read etcd: ${(error as Error).message}`, 400),
      });
    }
  } else
    sources.push({ source: 'etcd', state: 'not-given', detail: 'no --etcd (managed clusters keep it out of reach)' });
  if (o.config)
    sources.push({ source: 'config', state: 'used', detail: `${o.config.rules.length} resources entr(ies)` });

  const results = o.conditions.map((c) => judge(c, resources, evidence, o.config?.rules));
  const unreadable = sources.some((s) => s.state === 'unreadable');
  const exitCode = results.some((r) => r.outcome === 'fail')
    ? 1
    : results.some((r) => r.outcome === 'undecided') || unreadable
      ? 3
      : 0;
  return {
    sources,
    results,
    configProblems: o.config?.problems ?? [],
    evidence,
    exitCode,
    seconds: (performance.now() - started) / 1000,
  };
}

function judge(
  c: Condition,
  resources: string[],
  e: VerifyReport['evidence'],
  rules?: EncryptionRule[],
): ConditionResult {
  const decisions: Decision[] = [];
  const by = DECIDED_BY[c.kind];
  if (c.kind === 'config') {
    decisions.push(
      rules
        ? judgeConfig(rules, e.etcd, e.metrics)
        : decided(
            'config',
            'undecided',
            'config needs --config FILE (the EncryptionConfiguration to hold the cluster to)',
          ),
    );
  } else {
    if (by.includes('etcd') && e.etcd) decisions.push(judgeByEtcd(e.etcd, c, resources));
    if (by.includes('metrics') && e.metrics) decisions.push(judgeByMetrics(e.metrics, c, resources));
    if (by.includes('canary') && e.canary) decisions.push(judgeByCanary(e.canary, c, resources));
    if (c.kind === 'unhealthy' && e.health) decisions.push(judgeHealth(e.health));
    if ((c.kind === 'unhealthy' || c.kind === 'denied-calls') && e.cloud) decisions.push(judgeCloud(e.cloud, c.kind));
  }
  const { outcome, decidedBy } = combine(c, decisions);
  if (decisions.length === 0)
    decisions.push(decided(by[0]!, 'undecided', `no source that can decide it was available (${by.join(', ')})`));
  return { condition: describeCondition(c), outcome, ...(decidedBy ? { decidedBy } : {}), decisions, rule: ruleOf(c) };
}

// Raw etcd's answer stands for what is stored; otherwise a failure anywhere fails, and a pass needs a source that passed.
function combine(c: Condition, ds: Decision[]): { outcome: Outcome; decidedBy?: Source } {
  const etcd = ds.find((d) => d.source === 'etcd' && d.outcome !== 'undecided');
  if (etcd && c.kind !== 'unhealthy') return { outcome: etcd.outcome, decidedBy: 'etcd' };
  const fail = ds.find((d) => d.outcome === 'fail');
  if (fail) return { outcome: 'fail', decidedBy: fail.source };
  const pass = ds.find((d) => d.outcome === 'pass');
  return pass ? { outcome: 'pass', decidedBy: pass.source } : { outcome: 'undecided' };
}

function judgeHealth(h: HealthFacts): Decision {
  const s = h.kmsProviders.status;
  if (h.noKmsCheck)
    return decided(
      'health',
      'undecided',
      'the apiserver has no kms-providers check: it runs no KMS provider (or KMS v1 with per-provider checks)',
    );
  if (s === 200)
    return decided(
      'health',
      'pass',
      '/healthz/kms-providers: ok (every KMS provider answered its last Status healthy)',
    );
  const failing = h.readyzFailing?.filter((x) => x.startsWith('kms-provider')) ?? [];
  return decided(
    'health',
    'fail',
    `/healthz/kms-providers: HTTP ${s} ${printable(h.kmsProviders.body.trim(), 400)}${failing.length ? `; /readyz fails ${failing.join(', ')}` : ''}`,
  );
}

function judgeByCanary(k: CanaryFacts, c: Condition, resources: string[]): Decision {
  if (c.kind === 'unhealthy') {
    if (!k.created || k.readBack === 'failed' || k.readBack === 'different')
      return decided('canary', 'fail', `the canary Secret: ${printable(k.error ?? `read back ${k.readBack}`, 400)}`);
    return decided(
      'canary',
      'undecided',
      'a write that works says nothing of health: writes go on up to 3 minutes after the KMS is gone',
    );
  }
  if (!resources.includes('secrets'))
    return decided('canary', 'undecided', 'the canary writes a Secret; secrets is not in --resource');
  if (!k.created) return decided('canary', 'undecided', `no canary was written: ${printable(k.error ?? '', 300)}`);
  if (k.storedWith.length === 0)
    return decided('canary', 'undecided', 'the write moved no transformation counter (did another apiserver take it?)');
  const offending = k.storedWith.filter((s) => {
    if (c.kind === 'key-id' || c.kind === 'not-key-id' || !isValueCondition(c)) return false;
    return meetsValue(storedAsPrefix(s.prefix), c);
  });
  return offending.length
    ? decided(
        'canary',
        'fail',
        `a Secret written now is stored as ${offending.map((s) => describeStored(storedAsPrefix(s.prefix))).join(', ')}`,
      )
    : decided(
        'canary',
        'undecided',
        `a Secret written now is stored as ${k.storedWith.map((s) => describeStored(storedAsPrefix(s.prefix))).join(', ')}: fine for new writes, silent on older values`,
      );
}

function refused(source: Source, what: string, res: { status: number; body: string }): SourceState {
  const rbac = res.status === 401 || res.status === 403;
  return {
    source,
    state: rbac ? 'forbidden' : 'unreadable',
    detail: rbac
      ? `${what}: HTTP ${res.status}; the identity needs get on nonResourceURLs /metrics, /healthz/*, /readyz (docs/verify.md has the ClusterRole)`
      : `${what}: HTTP ${res.status} ${printable(res.body.slice(0, 200), 200)}`,
  };
}

function metricsDetail(m: EncryptionMetrics): string {
  const since = m.startedSeconds ? ` since ${new Date(m.startedSeconds * 1000).toISOString()}` : '';
  const ids = m.apiserverIdHashes.length
    ? ` (apiserver ${m.apiserverIdHashes.map((h) => printable(h.slice(0, 19))).join(', ')})`
    : '';
  const failed = m.transformations.filter((t) => t.status !== 'OK' && t.count > 0);
  const failures = failed.length
    ? `; failed transformations: ${failed.map((t) => `${t.count} ${t.type} of ${printable(t.resource) || '?'} (${printable(t.status)})`).join(', ')}`
    : '';
  return `one apiserver's counters${since}${ids}${failures}`;
}

function canaryDetail(k: CanaryFacts): string {
  const how = k.storedWith.map((s) => describeStored(storedAsPrefix(s.prefix))).join(', ') || 'no transformation seen';
  return `namespace ${k.namespace}: ${k.created ? 'written' : 'not written'}, stored as ${how}, read back ${k.readBack}, ${k.cleanedUp ? 'deleted' : 'NOT deleted'}`;
}
