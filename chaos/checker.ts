import type { AuditRecord } from '../fake-kms/index.js';
import type { InspectRow } from '../harness/inspect/index.js';
import type { FaultEvent, FaultKind } from './fault-kinds.js';
import type { HistoryEntry } from './workload.js';

/** Invariant is one property checked over the whole run, with the evidence when it does not hold. */
export interface Invariant {
  name: string;
  holds: boolean;
  /** What it means, in a sentence. */
  claim: string;
  violations: Array<Record<string, unknown>>;
  /** Figures worth reporting whether it holds or not. */
  measured?: Record<string, unknown>;
}

/** FinalRead is a read of one key through one apiserver after recovery. */
export interface FinalRead {
  apiserver: string;
  key: string;
  outcome: 'ok' | 'fail';
  digest?: string;
  errorClass?: string;
}

/** HealthSample is one look at an apiserver's KMS health check. */
export interface HealthSample {
  t: number;
  apiserver: string;
  ok: boolean;
}

export interface CheckInput {
  history: HistoryEntry[];
  finalReads: FinalRead[];
  /** Raw etcd rows of the workload's Secrets after recovery. */
  stored: InspectRow[];
  providerNames: string[];
  /** key_ids the KMS can still open (the fake: every version not destroyed; a plugin: those it reported). */
  liveKeyIds: Set<string>;
  audit: AuditRecord[];
  faults: Array<FaultEvent & { appliedAt: number; healedAt: number }>;
  health: HealthSample[];
  opTimeoutMs: number;
  maxKmsRatePerSecond: number;
  healthToleranceMs: number;
  /** Times in the report are relative to this. */
  t0: number;
}

// Faults under which a correct apiserver must report the KMS unhealthy (Status fails, hangs or says not ok).
const UNHEALTHY: ReadonlySet<FaultKind> = new Set([
  'kms-error',
  'kms-hang',
  'healthz-lie',
  'key-id-lie', // the apiserver rotates to the lie, Encrypt answers the truth, and the probe fails
  'socket-stop',
  'key-disable',
]);

/** checkInvariants judges a run: every invariant, holds or not, with what shows it. */
export function checkInvariants(i: CheckInput): Invariant[] {
  return [
    acknowledgedWrites(i),
    readsOfWrittenValues(i),
    encryptedAtRest(i),
    everyApiserverServes(i),
    kmsRate(i),
    healthAgrees(i),
  ];
}

type State = string | null; // a value digest, or null for "no such Secret"

// What a key may hold at the end: the last acknowledged write, or any write whose outcome is unknown and that could
// have landed after it.
function acceptable(entries: HistoryEntry[], opTimeoutMs: number): Set<State> {
  const writes = entries.filter((e) => e.op !== 'read');
  const acked = writes.filter((e) => e.outcome === 'ok');
  const last = acked.at(-1);
  const states = new Set<State>([last ? stateOf(last) : null]);
  for (const w of writes) {
    if (w.outcome === 'unknown' && (!last || w.start >= last.start - opTimeoutMs)) states.add(stateOf(w));
  }
  return states;
}

const stateOf = (w: HistoryEntry): State => (w.op === 'delete' ? null : (w.digest ?? null));

function byKey(history: HistoryEntry[]): Map<string, HistoryEntry[]> {
  const m = new Map<string, HistoryEntry[]>();
  for (const e of history) {
    if (!m.has(e.key)) m.set(e.key, []);
    m.get(e.key)!.push(e);
  }
  for (const list of m.values()) list.sort((a, b) => a.start - b.start);
  return m;
}

function acknowledgedWrites(i: CheckInput): Invariant {
  const keys = byKey(i.history);
  const violations: Invariant['violations'] = [];
  for (const r of i.finalReads) {
    if (r.outcome !== 'ok') continue; // unreadable keys are everyApiserverServes' business
    const ok = acceptable(keys.get(r.key) ?? [], i.opTimeoutMs);
    const got: State = r.digest ?? null;
    if (!ok.has(got)) {
      violations.push({
        key: r.key,
        apiserver: r.apiserver,
        expected: [...ok].map((s) => s ?? 'absent'),
        got: got ?? 'absent',
      });
    }
  }
  const writes = i.history.filter((e) => e.op !== 'read');
  return {
    name: 'acknowledged-writes-survive',
    claim:
      'after recovery every Secret reads back as its last acknowledged write (or a write whose outcome was unknown)',
    holds: violations.length === 0,
    violations,
    measured: { writes: writes.length, acknowledged: writes.filter((w) => w.outcome === 'ok').length },
  };
}

function readsOfWrittenValues(i: CheckInput): Invariant {
  const keys = byKey(i.history);
  const violations: Invariant['violations'] = [];
  for (const e of i.history) {
    if (e.op !== 'read' || e.outcome !== 'ok' || e.digest === undefined) continue;
    const written = (keys.get(e.key) ?? []).some((w) => w.op !== 'read' && w.digest === e.digest && w.start <= e.end);
    if (!written) violations.push({ key: e.key, apiserver: e.apiserver, at: e.start - i.t0, read: e.digest });
  }
  return {
    name: 'reads-return-written-values',
    claim: 'no read returned a value that was never written to that Secret',
    holds: violations.length === 0,
    violations,
  };
}

function encryptedAtRest(i: CheckInput): Invariant {
  const violations: Invariant['violations'] = [];
  for (const row of i.stored) {
    if (row.class !== 'kms-v2' || !i.providerNames.includes(row.name ?? '')) {
      violations.push({
        key: row.key,
        storedAs: row.class === 'identity' ? 'plaintext' : row.class,
        provider: row.name,
      });
    } else if (!i.liveKeyIds.has(row.kmsV2!.keyId)) {
      violations.push({
        key: row.key,
        keyId: row.kmsV2!.keyId,
        problem: 'stored under a key_id the KMS no longer has',
      });
    }
  }
  return {
    name: 'encrypted-at-rest',
    claim: 'every stored Secret is KMS v2 under the configured provider, on a key_id the KMS can still open',
    holds: violations.length === 0,
    violations,
    measured: { stored: i.stored.length },
  };
}

function everyApiserverServes(i: CheckInput): Invariant {
  const failed = i.finalReads.filter((r) => r.outcome !== 'ok');
  return {
    name: 'every-apiserver-serves-every-secret',
    claim: 'after recovery — every apiserver restarted, caches empty — every apiserver reads every Secret',
    holds: failed.length === 0,
    violations: failed.map((r) => ({ key: r.key, apiserver: r.apiserver, errorClass: r.errorClass })),
    measured: { reads: i.finalReads.length },
  };
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
  const over = Object.entries(peak).filter(([, n]) => n > i.maxKmsRatePerSecond);
  return {
    name: 'kms-call-rate-bounded',
    claim: `the apiservers never called the KMS more than ${i.maxKmsRatePerSecond} times a second per method`,
    holds: over.length === 0,
    violations: over.map(([method, n]) => ({ method, peakPerSecond: n })),
    measured: { peakPerSecond: peak, calls: i.audit.length },
  };
}

// Expected health from the schedule; a disagreement shorter than the tolerance is the probe cache and poll at work.
function healthAgrees(i: CheckInput): Invariant {
  const expectUnhealthy = (t: number) =>
    i.faults.some((f) => UNHEALTHY.has(f.kind) && f.appliedAt <= t && t < f.healedAt);
  const apiservers = [...new Set(i.health.map((h) => h.apiserver))];
  const disagreements: Array<{ apiserver: string; from: number; to: number; apiserverSaid: string }> = [];
  for (const a of apiservers) {
    let open: (typeof disagreements)[number] | undefined;
    for (const h of i.health.filter((x) => x.apiserver === a)) {
      const disagrees = h.ok === expectUnhealthy(h.t);
      if (disagrees && !open)
        open = { apiserver: a, from: h.t, to: h.t, apiserverSaid: h.ok ? 'healthy' : 'unhealthy' };
      else if (disagrees && open) open.to = h.t;
      else if (!disagrees && open) {
        open.to = h.t;
        disagreements.push(open);
        open = undefined;
      }
    }
    if (open) disagreements.push(open);
  }
  const long = disagreements.filter((d) => d.to - d.from > i.healthToleranceMs);
  return {
    name: 'health-agrees-with-plugin',
    claim: `/healthz/kms-providers followed the plugin's state, each disagreement over within ${i.healthToleranceMs / 1000} s`,
    holds: long.length === 0,
    violations: long.map((d) => ({ ...d, from: d.from - i.t0, to: d.to - i.t0, seconds: (d.to - d.from) / 1000 })),
    measured: {
      disagreements: disagreements.length,
      longestSeconds: Math.max(0, ...disagreements.map((d) => (d.to - d.from) / 1000)),
    },
  };
}
