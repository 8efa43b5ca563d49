import type { AuditRecord } from '../fake-kms/index.js';
import type { InspectRow } from '../harness/inspect/index.js';
import { checkRegisters, type Anomaly, type AnomalyName, type Operation } from './history/index.js';
import type { FaultEvent } from './fault-kinds.js';
import { judgeHealth, UNHEALTHY_JUDGED_AFTER_MS, type HealthSample } from './health.js';
import type { KeyLiveness, PluginAnswer, PluginOutage } from './plugin-view.js';

/**
 * Invariant is one property judged over the whole run: `holds`, `violated` (with the anomalies that show it), or
 * `undecided` when the run gave it nothing to judge (then `undecided` says why; it is not a pass).
 */
export interface Invariant {
  name: string;
  /** What it means, in a sentence. */
  claim: string;
  verdict: 'holds' | 'violated' | 'undecided';
  holds: boolean;
  anomalies: Anomaly[];
  undecided?: string;
  /** Figures worth reporting whatever the verdict. */
  measured?: Record<string, unknown>;
}

/** AppliedFault is a fault as it happened, in ms since the run began: asked for, in force, healing, healed. */
export type AppliedFault = FaultEvent & {
  appliedAt: number;
  healedAt: number;
  inForceAt?: number;
  healingAt?: number;
  keyId?: string;
  error?: string;
};

export interface CheckInput {
  /** Every request of the workload and every read after recovery (`final`). */
  history: Operation[];
  /** Raw etcd rows of the workload's Secrets after recovery. */
  stored: InspectRow[];
  providerNames: string[];
  keys: KeyLiveness;
  /** The KMS calls from the start of the workload to the end of the check (for the call rate). */
  audit: AuditRecord[];
  health: HealthSample[];
  /** What the plugin answered, and when its socket was away. */
  pluginAnswers: PluginAnswer[];
  pluginOutages: PluginOutage[];
  apiservers: string[];
  faults: AppliedFault[];
  maxKmsRatePerSecond: number;
  /** Times in the report are relative to this. */
  t0: number;
}

/** checkInvariants judges a run: every invariant, with its verdict and the anomalies that show it. */
export function checkInvariants(i: CheckInput): Invariant[] {
  const registers = checkRegisters(i.history, i.t0);
  const of = (...names: AnomalyName[]) => registers.anomalies.filter((a) => names.includes(a.name));
  const writes = i.history.filter((e) => e.f !== 'read');
  const reads = i.history.filter((e) => e.f === 'read');
  const model = { secrets: registers.keys, approximateSecrets: registers.approximateKeys.length };
  return [
    judged(
      'acknowledged-writes-survive',
      'every acknowledged write is what later reads and the state after recovery show, unless a write of unknown outcome explains otherwise',
      of('lost-acknowledged-write'),
      {
        writes: writes.length,
        acknowledged: writes.filter((w) => w.type === 'ok').length,
        info: writes.filter((w) => w.type === 'info').length,
        ...model,
      },
    ),
    judged(
      'reads-return-written-values',
      'every read returned a value the Secret could hold at that moment: none stale, absent, never written or from a failed write',
      of('stale-read', 'absent-read', 'never-written-read', 'failed-write-visible'),
      { reads: reads.filter((r) => r.type === 'ok').length, ...model },
    ),
    encryptedAtRest(i),
    judged(
      'every-apiserver-serves-every-secret',
      'after recovery — every apiserver restarted, caches empty — every apiserver reads every Secret',
      i.history
        .filter((r) => r.final && r.type !== 'ok')
        .map((r) => ({
          name: 'unreadable-after-recovery' as const,
          key: r.key,
          apiserver: r.apiserver,
          errorClass: r.error,
        })),
      { reads: i.history.filter((r) => r.final).length },
    ),
    kmsRate(i),
    healthAgrees(i),
    judged(
      'faults-applied',
      'every fault of the schedule was applied and healed, so the run tested what it says',
      i.faults
        .filter((f) => f.error)
        .map((f) => ({ name: 'fault-not-applied' as const, at: f.appliedAt, kind: f.kind, error: f.error })),
      { faults: i.faults.length },
    ),
  ];
}

function judged(
  name: string,
  claim: string,
  anomalies: Anomaly[],
  measured?: Record<string, unknown>,
  undecided?: string,
): Invariant {
  const verdict = anomalies.length ? 'violated' : undecided ? 'undecided' : 'holds';
  return {
    name,
    claim,
    verdict,
    holds: verdict === 'holds',
    anomalies,
    ...(verdict === 'undecided' ? { undecided } : {}),
    ...(measured ? { measured } : {}),
  };
}

function encryptedAtRest(i: CheckInput): Invariant {
  const anomalies: Anomaly[] = [];
  for (const row of i.stored) {
    const key = row.key;
    if (row.class === 'identity') anomalies.push({ name: 'plaintext-at-rest', key });
    else if (row.class !== 'kms-v2' || !i.providerNames.includes(row.name ?? ''))
      anomalies.push({ name: 'wrong-provider-at-rest', key, storedAs: row.class, provider: row.name });
    else if (!i.keys.known.has(row.kmsV2!.keyId))
      anomalies.push({ name: 'unknown-key-id-at-rest', key, keyId: row.kmsV2!.keyId, keysFrom: i.keys.source });
    else if (!i.keys.openable.has(row.kmsV2!.keyId))
      anomalies.push({ name: 'undecryptable-at-rest', key, keyId: row.kmsV2!.keyId, keysFrom: i.keys.source });
  }
  return judged(
    'encrypted-at-rest',
    'every stored Secret is KMS v2 under the configured provider, on a key_id the KMS reported and can still open',
    anomalies,
    { stored: i.stored.length, keyIdsKnown: i.keys.known.size, keysFrom: i.keys.source },
  );
}

function kmsRate(i: CheckInput): Invariant {
  const perSecond = new Map<string, number>();
  for (const r of i.audit) {
    const k = `${r.method}\u0000${Math.floor(Date.parse(r.time) / 1000)}`;
    perSecond.set(k, (perSecond.get(k) ?? 0) + 1);
  }
  const peak: Record<string, number> = {};
  for (const [k, n] of perSecond) {
    const method = k.split('\u0000')[0]!;
    peak[method] = Math.max(peak[method] ?? 0, n);
  }
  return judged(
    'kms-call-rate-bounded',
    `the apiservers never called the KMS more than ${i.maxKmsRatePerSecond} times a second per method`,
    Object.entries(peak)
      .filter(([, n]) => n > i.maxKmsRatePerSecond)
      .map(([method, n]) => ({ name: 'kms-call-storm' as const, method, peakPerSecond: n })),
    { peakPerSecond: peak, calls: i.audit.length },
  );
}

function healthAgrees(i: CheckInput): Invariant {
  const h = judgeHealth(i.health, i.pluginAnswers, i.pluginOutages, { t0: i.t0, apiservers: i.apiservers });
  return judged(
    'health-agrees-with-plugin',
    `/healthz/kms-providers followed what the plugin answered: unhealthy once it had answered no Status healthy for ${UNHEALTHY_JUDGED_AFTER_MS / 1000} s (the probe caches success 20 s), healthy once it answered only healthy for long`,
    h.anomalies,
    { judgedSamples: h.judged, longestPluginFailureSeconds: Math.round(h.longestPluginFailureMs / 1000) },
    h.undecided,
  );
}
