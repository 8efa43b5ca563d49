import type { AuditRecord } from '../fake-kms/index.js';
import type { LabKmsStatus } from '../harness/lab.js';

/**
 * The apiserver's KMS v2 clock (kube-apiserver v1.37 `encryptionconfig/config.go`, `kmsv2/grpc_service.go`): every
 * call has the provider's timeout (kmslab's labs: 3 s); a probe result is cached 20 s after success and 3 s after
 * failure; gRPC reconnects to a plugin that went away with grpc-go's default backoff, up to 120 s ± 20 %.
 */
export const KMS_TIMING = {
  callTimeoutMs: 3_000,
  probeCacheOkMs: 20_000,
  probeCacheFailedMs: 3_000,
  reconnectMaxMs: 144_000,
} as const;

// Answers this close under the timeout may or may not have beaten the apiserver's deadline.
const TIMEOUT_MARGIN_MS = 250;

/** PluginAnswer is one Status or Encrypt the plugin answered, judged as the apiserver's probe would take it. */
export interface PluginAnswer {
  method: 'Status' | 'Encrypt';
  /** When the call began and when it was answered (epoch ms). */
  at: number;
  answeredAt: number;
  health: 'healthy' | 'unhealthy' | 'ambiguous';
  why?: string;
}

/** PluginOutage is a time the plugin's socket was certainly away (as the nemesis took it away and back). */
export interface PluginOutage {
  from: number;
  to: number;
  why: string;
}

/** KeyLifecycle is a hook the nemesis ran on a key: what the KMS was told to do, and when. */
export interface KeyLifecycle {
  at: number;
  keyId: string;
  action: 'disable' | 'enable' | 'destroy';
}

/**
 * PluginView is what the plugin itself said during a run: its Status and Encrypt answers (from the audit trail the
 * fake KMS or the proxy keeps), the key_ids it wrapped seeds under or opened, and the lifecycle it was put through.
 * Health and key_id liveness are judged from it, never from what the apiservers stored or said.
 */
export class PluginView {
  /** key_ids the plugin answered an Encrypt or a Decrypt with: the keys it holds. */
  readonly reportedKeyIds = new Set<string>();
  readonly outages: PluginOutage[] = [];
  readonly lifecycle: KeyLifecycle[] = [];
  /** Records the trail had dropped before they were polled (it keeps the newest 20,000): judged without them. */
  missed = 0;
  private readonly records: AuditRecord[] = [];
  private lastSeq = -1;

  /** add takes the audit records after `seq`, in trail order, as polled during the run. */
  add(records: readonly AuditRecord[]): void {
    for (const r of records) {
      if (r.seq <= this.lastSeq) continue;
      if (this.lastSeq >= 0) this.missed += r.seq - this.lastSeq - 1;
      this.lastSeq = r.seq;
      this.records.push(r);
      if (r.code === 'OK' && (r.method === 'Encrypt' || r.method === 'Decrypt') && r.keyId)
        this.reportedKeyIds.add(r.keyId);
    }
  }

  /** seq is the last record taken: poll the trail after it. */
  get seq(): number {
    return Math.max(0, this.lastSeq);
  }

  /** recordsAfter gives the records taken after a trail position. */
  recordsAfter(seq: number): AuditRecord[] {
    return this.records.filter((r) => r.seq > seq);
  }

  /** answers judges every Status and Encrypt seen, in the order the calls began. */
  answers(timeoutMs: number = KMS_TIMING.callTimeoutMs): PluginAnswer[] {
    const out: PluginAnswer[] = [];
    for (const r of this.records) {
      if (r.method !== 'Status' && r.method !== 'Encrypt') continue;
      const at = Date.parse(r.time);
      const answeredAt = at + Math.min(r.latencyMs, timeoutMs);
      const verdict = judge(r, timeoutMs, this.reportedKeyIds);
      if (r.method === 'Encrypt' && verdict.health === 'healthy') continue; // only its failures say anything
      out.push({ method: r.method, at, answeredAt, ...verdict });
    }
    return out.sort((a, b) => a.at - b.at);
  }
}

function judge(
  r: AuditRecord,
  timeoutMs: number,
  encryptable: ReadonlySet<string>,
): Omit<PluginAnswer, 'method' | 'at' | 'answeredAt'> {
  if (r.code !== 'OK') return { health: 'unhealthy', why: `${r.method} ${r.code}` };
  if (r.latencyMs >= timeoutMs)
    return { health: 'unhealthy', why: `${r.method} answered after the apiserver's timeout` };
  if (r.latencyMs >= timeoutMs - TIMEOUT_MARGIN_MS) return { health: 'ambiguous', why: 'answered at the timeout' };
  if (r.method === 'Encrypt') return { health: 'healthy' };
  if (r.healthz !== undefined) return { health: 'unhealthy', why: `Status healthz ${JSON.stringify(r.healthz)}` };
  if (!r.keyId || Buffer.byteLength(r.keyId) > 1024) return { health: 'unhealthy', why: 'Status key_id invalid' };
  // The apiserver rotates to a new key_id through an Encrypt that must answer with it: a key_id no Encrypt ever
  // answered with cannot become its state, so the probe fails.
  if (!encryptable.has(r.keyId)) return { health: 'unhealthy', why: 'Status key_id no Encrypt answers with' };
  return { health: 'healthy' };
}

/**
 * KeyLiveness says which key_ids the KMS knows and which it can open now: from the fake KMS's keyring states, or,
 * for a plugin of the user's, from what the plugin reported (the key_ids it wrapped seeds under or opened) and the
 * lifecycle hooks applied to them.
 */
export interface KeyLiveness {
  source: 'keyring' | 'plugin-reports';
  known: ReadonlySet<string>;
  openable: ReadonlySet<string>;
}

export function keyLiveness(status: LabKmsStatus, view: PluginView): KeyLiveness {
  if (status.versions) {
    return {
      source: 'keyring',
      known: new Set(status.versions.map((v) => v.keyId)),
      openable: new Set(status.versions.filter((v) => v.state === 'enabled').map((v) => v.keyId)),
    };
  }
  const known = new Set(view.reportedKeyIds);
  const last = new Map<string, KeyLifecycle['action']>();
  for (const l of [...view.lifecycle].sort((a, b) => a.at - b.at)) last.set(l.keyId, l.action);
  return {
    source: 'plugin-reports',
    known,
    openable: new Set([...known].filter((k) => last.get(k) !== 'disable' && last.get(k) !== 'destroy')),
  };
}
