import type { Lab } from '../harness/lab.js';
import { toRow, type InspectRow } from '../harness/inspect/index.js';
import { seededRandom } from '../sim/index.js';
import { auditMark, errorClass } from '../scenarios/index.js';
import { checkInvariants, type FinalRead, type HealthSample, type Invariant } from './checker.js';
import { inject, planSchedule, possibleFaults } from './nemesis.js';
import type { FaultEvent, FaultKind } from './fault-kinds.js';
import { digest, runWorkload, type HistoryEntry } from './workload.js';

export interface ChaosOptions {
  seed: string;
  durationMs: number;
  /** Fault kinds the nemesis may draw from (those the lab cannot take are left out, and reported). */
  faults: readonly FaultKind[];
  /** Replay this schedule instead of drawing one. */
  schedule?: FaultEvent[];
  clients?: number;
  keysPerClient?: number;
  /** Secrets written once at the start and then only read (default 10). */
  coldKeys?: number;
  thinkMs?: number;
  opTimeoutMs?: number;
  /** Mean quiet time between faults; default: the run's duration / 12. */
  meanGapMs?: number;
  /** Window faults last between these (ms); default: from the gap. */
  windowMs?: [number, number];
  healthEveryMs?: number;
  maxKmsRatePerSecond?: number;
  healthToleranceMs?: number;
  /** How long recovery waits for every apiserver's /readyz before checking anyway (default 2 min). */
  recoveryTimeoutMs?: number;
  onEvent?: (event: ChaosEvent) => void;
  signal?: AbortSignal;
}

export type ChaosEvent =
  | { type: 'fault'; fault: FaultEvent; phase: 'applied' | 'healed' | 'failed'; error?: string }
  | { type: 'phase'; phase: 'workload' | 'recovery' | 'check'; at: number };

/** AppliedFault is a fault as it happened: when it was put on and taken off (ms since the start), and how. */
export type AppliedFault = FaultEvent & { appliedAt: number; healedAt: number; error?: string };

export interface ChaosReport {
  seed: string;
  backend: string;
  outcome: 'passed' | 'failed';
  /** Wall-clock facts, the only fields that differ between two runs of one seed on the sim. */
  startedAt: string;
  wallMs: number;
  durationMs: number;
  apiservers: string[];
  operations: { writes: number; acknowledged: number; unknown: number; reads: number; failed: number };
  faults: AppliedFault[];
  /** Fault kinds asked for that this lab cannot take, and why. */
  faultsLeftOut: string[];
  invariants: Invariant[];
  /** For the timeline: every request, the health samples, KMS calls per second by method and code. */
  timeline: {
    requests: Array<[number, string, string, 'ok' | 'fail' | 'unknown', number]>;
    health: Array<[number, string, boolean]>;
    kmsPerSecond: Array<[number, string, string, number]>;
  };
}

const NAMESPACE = 'kmslab-chaos';

/** ChaosInterrupted: the run was aborted before its end; nothing was checked. */
export class ChaosInterrupted extends Error {
  constructor() {
    super('interrupted before the end of the run: nothing was checked');
    this.name = 'ChaosInterrupted';
  }
}

/**
 * runChaos runs a workload against a lab while a seeded nemesis injects faults, one at a time; then heals
 * everything, restarts every apiserver (so caches are empty and what survives is what is stored), reads every
 * Secret through every apiserver, scans raw etcd, and checks the invariants over the whole history.
 */
export async function runChaos(lab: Lab, o: ChaosOptions): Promise<ChaosReport> {
  const wallStart = Date.now();
  const emit = o.onEvent ?? (() => undefined);
  const clock = lab.clock;
  const opTimeoutMs = o.opTimeoutMs ?? 10_000;
  await lab.api.ensureNamespace(NAMESPACE);
  const { kinds, left } = possibleFaults(lab, o.faults);
  const meanGapMs = o.meanGapMs ?? Math.max(5_000, Math.round(o.durationMs / 12));
  const schedule =
    o.schedule ??
    planSchedule(seededRandom(`${o.seed}/schedule`), {
      durationMs: o.durationMs,
      kinds,
      apiservers: lab.apiservers.length,
      meanGapMs,
      // Windows longer than the apiserver's 20 s health cache, so that health has something to follow.
      windowMs: o.windowMs ?? [Math.round(meanGapMs * 0.8), Math.round(meanGapMs * 1.6)],
    });
  const mark = await auditMark(lab);
  const t0 = clock.now();
  const end = t0 + o.durationMs;
  const done = () => clock.now() >= end || Boolean(o.signal?.aborted);
  const history: HistoryEntry[] = [];
  const health: HealthSample[] = [];
  const applied: AppliedFault[] = [];

  emit({ type: 'phase', phase: 'workload', at: 0 });
  const workload = runWorkload(lab, {
    namespace: NAMESPACE,
    clients: o.clients ?? 4,
    keysPerClient: o.keysPerClient ?? 5,
    coldKeys: o.coldKeys ?? 10,
    random: seededRandom(`${o.seed}/workload`),
    thinkMs: o.thinkMs ?? 200,
    opTimeoutMs,
    done,
    history,
  });
  const sampler = (async () => {
    while (!done()) {
      for (const a of lab.apiservers) {
        if (!a.running) continue;
        const t = clock.now();
        const r = await a.api.request('GET', '/healthz/kms-providers').catch(() => undefined);
        if (r) health.push({ t, apiserver: a.name, ok: r.status === 200 });
      }
      await clock.sleep(o.healthEveryMs ?? 2_000);
    }
  })();
  const nemesis = (async () => {
    for (const f of schedule) {
      if (done()) break;
      const wait = t0 + f.at - clock.now();
      if (wait > 0) await clock.sleep(wait);
      if (done()) break;
      const record: AppliedFault = { ...f, appliedAt: clock.now() - t0, healedAt: clock.now() - t0 };
      applied.push(record);
      try {
        const heal = await inject(lab, f);
        emit({ type: 'fault', fault: f, phase: 'applied' });
        if (f.durationMs > 0) await clock.sleep(Math.max(0, t0 + f.at + f.durationMs - clock.now()));
        await heal();
        emit({ type: 'fault', fault: f, phase: 'healed' });
      } catch (error) {
        record.error = (error as Error).message;
        emit({ type: 'fault', fault: f, phase: 'failed', error: record.error });
      }
      record.healedAt = clock.now() - t0;
    }
  })();
  await Promise.all([workload, sampler, nemesis]);
  // Interrupted (Ctrl-C): no recovery and no verdict on a run cut short; the caller closes the lab.
  if (o.signal?.aborted) throw new ChaosInterrupted();

  emit({ type: 'phase', phase: 'recovery', at: clock.now() - t0 });
  await recover(lab, o.recoveryTimeoutMs ?? 120_000);

  emit({ type: 'phase', phase: 'check', at: clock.now() - t0 });
  const keys = [...new Set(history.map((e) => e.key))].sort();
  const finalReads: FinalRead[] = [];
  for (const a of lab.apiservers) {
    for (const key of keys) {
      try {
        const r = await a.api.readSecret({ namespace: NAMESPACE, name: key }).catch((e: { status?: number }) => {
          if (e?.status === 404) return undefined;
          throw e;
        });
        finalReads.push({
          apiserver: a.name,
          key,
          outcome: 'ok',
          ...(r ? { digest: digest(r.data.v?.toString() ?? '') } : {}),
        });
      } catch (error) {
        finalReads.push({ apiserver: a.name, key, outcome: 'fail', errorClass: errorClass(error) });
      }
    }
  }
  const stored: InspectRow[] = [];
  for await (const page of lab.etcd.scan(`/registry/secrets/${NAMESPACE}/`)) {
    for (const e of page.entries) stored.push(toRow(e.key, e.value, e.modRevision));
  }
  const status = await lab.kms.status();
  const liveKeyIds = new Set(
    status.versions
      ? status.versions.filter((v) => v.state !== 'destroyed').map((v) => v.keyId)
      : [status.keyId, ...stored.map((r) => r.kmsV2?.keyId ?? '')], // a plugin's own keys are not ours to list
  );
  const audit = await lab.kms.audit({ afterSeq: mark });
  const invariants = checkInvariants({
    history,
    finalReads,
    stored,
    providerNames: [
      lab.providerName,
      ...(lab.kmsRules ?? []).flatMap((r) => r.providers.flatMap((p) => ('kms' in p ? [p.kms.name] : []))),
    ],
    liveKeyIds,
    audit,
    faults: applied.map((f) => ({ ...f, appliedAt: f.appliedAt + t0, healedAt: f.healedAt + t0 })),
    health,
    opTimeoutMs,
    maxKmsRatePerSecond: o.maxKmsRatePerSecond ?? 1000,
    healthToleranceMs: o.healthToleranceMs ?? 90_000,
    t0,
  });
  const writes = history.filter((e) => e.op !== 'read');
  const reads = history.filter((e) => e.op === 'read');
  const perSecond = new Map<string, number>();
  for (const r of audit) {
    const k = `${Math.floor((Date.parse(r.time) - t0) / 1000)}\u0000${r.method}\u0000${r.code}`;
    perSecond.set(k, (perSecond.get(k) ?? 0) + 1);
  }
  return {
    seed: o.seed,
    backend: lab.backend,
    outcome: invariants.every((i) => i.holds) && !o.signal?.aborted ? 'passed' : 'failed',
    startedAt: new Date(wallStart).toISOString(),
    wallMs: Date.now() - wallStart,
    durationMs: o.durationMs,
    apiservers: lab.apiservers.map((a) => a.name),
    operations: {
      writes: writes.length,
      acknowledged: writes.filter((w) => w.outcome === 'ok').length,
      unknown: writes.filter((w) => w.outcome === 'unknown').length,
      reads: reads.length,
      failed: history.filter((e) => e.outcome === 'fail').length,
    },
    faults: applied,
    faultsLeftOut: left,
    invariants,
    timeline: {
      requests: history.map((e) => [e.start - t0, e.apiserver, e.op, e.outcome, e.end - e.start]),
      health: health.map((h) => [h.t - t0, h.apiserver, h.ok]),
      kmsPerSecond: [...perSecond].map(([k, n]) => {
        const [s, method, code] = k.split('\u0000') as [string, string, string];
        return [Number(s), method, code, n];
      }),
    },
  };
}

/**
 * recover heals what a run may have left (faults, a stopped socket) and restarts every apiserver, so the check
 * reads through empty caches: what survives is what is stored and what the KMS can still open.
 */
async function recover(lab: Lab, timeoutMs: number): Promise<void> {
  await lab.kms.clearFaults();
  await lab.kms.startPlugin();
  for (const a of lab.apiservers) await a.restart('live');
  await lab.clock
    .waitFor(
      async () => {
        for (const a of lab.apiservers) if ((await a.api.request('GET', '/readyz')).status !== 200) return undefined;
        return true;
      },
      { timeoutMs, intervalMs: 1000, what: 'every apiserver to be ready after recovery' },
    )
    .catch(() => undefined); // an apiserver that cannot get ready is what the invariants will show
}
