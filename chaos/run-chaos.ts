import type { Lab, LabClock } from '../harness/lab.js';
import { toRow, type InspectRow } from '../harness/inspect/index.js';
import { KmslabError } from '../harness/common/errors.js';
import { seededRandom } from '../sim/index.js';
import { auditMark, errorClass } from '../scenarios/index.js';
import { checkInvariants, type AppliedFault, type Invariant } from './checker.js';
import { FAULT_KINDS, type FaultEvent, type FaultKind } from './fault-kinds.js';
import { decidableWindowMs, type HealthSample } from './health.js';
import type { Operation } from './history/index.js';
import { checkDuration, checkSchedule } from './limits.js';
import { faultUnavailable, inject, planSchedule, possibleFaults } from './nemesis.js';
import { keyLiveness, PluginView } from './plugin-view.js';
import { digest, runWorkload } from './workload.js';

export type { AppliedFault } from './checker.js';

export interface ChaosOptions {
  seed: string;
  durationMs: number;
  /** Fault kinds the nemesis may draw from (default: every kind); those the lab cannot take are left out, and said. */
  faults?: readonly FaultKind[];
  /** The kinds were asked for by name: one the lab cannot take is refused (a usage error), not left out. */
  requireFaults?: boolean;
  /** Replay this schedule instead of drawing one. */
  schedule?: FaultEvent[];
  clients?: number;
  keysPerClient?: number;
  /** Secrets written once at the start and then only read (default 10). */
  coldKeys?: number;
  thinkMs?: number;
  /** A request not answered in this time is aborted, and a write's outcome is then unknown (default 10 s). */
  opTimeoutMs?: number;
  /** Mean quiet time between faults; default: the run's duration / 12. */
  meanGapMs?: number;
  /** Window faults last between these (ms); default: from the gap (faults that fail the plugin: long enough). */
  windowMs?: [number, number];
  /** How often each apiserver's KMS health is sampled (default 2 s). */
  healthEveryMs?: number;
  /** How often the KMS audit trail is read during the run (default: 10 health samples, at least 5 s). */
  auditEveryMs?: number;
  maxKmsRatePerSecond?: number;
  /** How long recovery waits for every apiserver's /readyz before checking anyway (default 2 min). */
  recoveryTimeoutMs?: number;
  onEvent?: (event: ChaosEvent) => void;
  signal?: AbortSignal;
}

export type ChaosEvent =
  | { type: 'fault'; fault: FaultEvent; phase: 'applied' | 'healed' | 'failed'; error?: string }
  | { type: 'phase'; phase: 'workload' | 'recovery' | 'check'; at: number }
  | { type: 'progress'; at: number; durationMs: number; requests: number };

export interface ChaosReport {
  seed: string;
  backend: string;
  /** `inconclusive`: nothing was violated, but an invariant could not be judged (see its `undecided`). */
  outcome: 'passed' | 'failed' | 'inconclusive';
  /** Wall-clock facts, the only fields that differ between two runs of one seed on the sim. */
  startedAt: string;
  wallMs: number;
  durationMs: number;
  apiservers: string[];
  operations: { writes: number; acknowledged: number; info: number; reads: number; failed: number };
  faults: AppliedFault[];
  /** Fault kinds asked for that this lab cannot take, and why. */
  faultsLeftOut: string[];
  invariants: Invariant[];
  /** For the timeline: every request, the health samples, KMS calls per second by method and code. */
  timeline: {
    requests: Array<[number, string, string, Operation['type'], number]>;
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
 * Secret through every apiserver, scans raw etcd, and judges the invariants over the whole history. A request
 * the run cannot carry out as asked (past the limits, a fault the lab cannot take) is refused before it starts.
 */
export async function runChaos(lab: Lab, o: ChaosOptions): Promise<ChaosReport> {
  const wallStart = Date.now();
  const emit = o.onEvent ?? (() => undefined);
  const clock = lab.clock;
  const signal = o.signal;
  const interrupted = () => Boolean(signal?.aborted);
  const opTimeoutMs = o.opTimeoutMs ?? 10_000;
  const healthEveryMs = o.healthEveryMs ?? 2_000;
  checkDuration(lab.backend, o.durationMs);
  const { kinds, left } = possibleFaults(lab, o.faults ?? FAULT_KINDS);
  if (o.requireFaults && left.length)
    throw new KmslabError('usage', `--faults: this lab cannot take ${left.join('; ')}`);
  const meanGapMs = o.meanGapMs ?? Math.max(5_000, Math.round(o.durationMs / 12));
  const schedule = o.schedule
    ? checkSchedule(o.schedule, {
        durationMs: o.durationMs,
        apiservers: lab.apiservers.length,
        cannot: (e) => faultUnavailable(lab, e.kind),
      })
    : planSchedule(seededRandom(`${o.seed}/schedule`), {
        durationMs: o.durationMs,
        kinds,
        apiservers: lab.apiservers.length,
        meanGapMs,
        windowMs: o.windowMs ?? [Math.round(meanGapMs * 0.8), Math.round(meanGapMs * 1.6)],
        decidableMs: decidableWindowMs(healthEveryMs),
      });
  await lab.api.ensureNamespace(NAMESPACE);
  const plugin = new PluginView();
  plugin.add(await lab.kms.audit()); // the trail so far holds the key_ids the apiservers started on
  const mark = await auditMark(lab);
  const t0 = clock.now();
  const end = t0 + o.durationMs;
  const done = () => clock.now() >= end || interrupted();
  const pause = (ms: number) => sleep(clock, ms, signal);
  const history: Operation[] = [];
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
    ...(signal ? { signal } : {}),
    history,
  });
  // Each apiserver sampled on its own, so one that hangs on a probe does not delay the others' samples.
  const samplers = lab.apiservers.map(async (a) => {
    while (!done()) {
      if (a.running) {
        const t = clock.now();
        const r = await a.api.request('GET', '/healthz/kms-providers').catch(() => undefined);
        if (r?.status === 200 || r?.status === 500)
          health.push({ t, end: clock.now(), apiserver: a.name, ok: r.status === 200 });
      }
      await pause(healthEveryMs);
    }
  });
  const auditor = (async () => {
    const every = o.auditEveryMs ?? Math.max(5_000, 10 * healthEveryMs);
    let next = every;
    while (!done()) {
      await pause(Math.min(every, Math.max(1, o.durationMs / 50)));
      if (clock.now() - t0 >= next) {
        plugin.add(await lab.kms.audit({ afterSeq: plugin.seq }));
        next += every;
      }
      emit({ type: 'progress', at: clock.now() - t0, durationMs: o.durationMs, requests: history.length });
    }
  })();
  const nemesis = (async () => {
    for (const f of schedule) {
      if (done()) break;
      await pause(t0 + f.at - clock.now());
      if (done()) break;
      const since = () => clock.now() - t0;
      const record: AppliedFault = { ...f, appliedAt: since(), healedAt: since() };
      applied.push(record);
      try {
        const injected = await inject(lab, f);
        record.inForceAt = since();
        if (injected.keyId !== undefined) record.keyId = injected.keyId;
        emit({ type: 'fault', fault: f, phase: 'applied' });
        if (f.durationMs > 0) await pause(t0 + f.at + f.durationMs - clock.now());
        if (interrupted()) return;
        record.healingAt = since();
        await injected.heal();
        emit({ type: 'fault', fault: f, phase: 'healed' });
      } catch (error) {
        record.error = (error as Error).message;
        emit({ type: 'fault', fault: f, phase: 'failed', error: record.error });
      }
      record.healedAt = since();
    }
  })();
  // Ctrl-C: stop at once; what is still in flight ends with the lab, which the caller closes.
  const running = Promise.all([workload, ...samplers, auditor, nemesis]);
  await Promise.race([running, abortion(signal)]);
  if (interrupted()) {
    running.catch(() => undefined);
    throw new ChaosInterrupted();
  }
  plugin.add(await lab.kms.audit({ afterSeq: plugin.seq })); // calls that hung are on file once released
  for (const f of applied) recordLifecycle(plugin, f, t0);

  emit({ type: 'phase', phase: 'recovery', at: clock.now() - t0 });
  await recover(lab, o.recoveryTimeoutMs ?? 120_000, interrupted);

  emit({ type: 'phase', phase: 'check', at: clock.now() - t0 });
  const keys = [...new Set(history.map((e) => e.key))].sort();
  for (const a of lab.apiservers) {
    for (const key of keys) {
      if (interrupted()) throw new ChaosInterrupted();
      const start = clock.now();
      const op: Operation = {
        process: -2,
        start,
        end: start,
        apiserver: a.name,
        f: 'read',
        key,
        type: 'ok',
        final: true,
      };
      try {
        const r = await a.api.readSecret({ namespace: NAMESPACE, name: key }).catch((e: { status?: number }) => {
          if (e?.status === 404) return undefined;
          throw e;
        });
        if (r) op.value = digest(r.data.v?.toString() ?? '');
      } catch (error) {
        op.type = 'fail';
        op.error = errorClass(error);
      }
      op.end = clock.now();
      history.push(op);
    }
  }
  const stored: InspectRow[] = [];
  for await (const page of lab.etcd.scan(`/registry/secrets/${NAMESPACE}/`)) {
    for (const e of page.entries) stored.push(toRow(e.key, e.value, e.modRevision));
  }
  plugin.add(await lab.kms.audit({ afterSeq: plugin.seq }));
  const audit = plugin.recordsAfter(mark);
  const invariants = checkInvariants({
    history,
    stored,
    providerNames: [
      lab.providerName,
      ...(lab.kmsRules ?? []).flatMap((r) => r.providers.flatMap((p) => ('kms' in p ? [p.kms.name] : []))),
    ],
    keys: keyLiveness(await lab.kms.status(), plugin),
    audit,
    health,
    pluginAnswers: plugin.answers(),
    pluginOutages: plugin.outages,
    apiservers: lab.apiservers.map((a) => a.name),
    faults: applied,
    maxKmsRatePerSecond: o.maxKmsRatePerSecond ?? 1000,
    t0,
  });
  const work = history.filter((e) => !e.final);
  const writes = work.filter((e) => e.f !== 'read');
  const perSecond = new Map<string, number>();
  for (const r of audit) {
    const k = `${Math.floor((Date.parse(r.time) - t0) / 1000)}\u0000${r.method}\u0000${r.code}`;
    perSecond.set(k, (perSecond.get(k) ?? 0) + 1);
  }
  return {
    seed: o.seed,
    backend: lab.backend,
    outcome: invariants.some((i) => i.verdict === 'violated')
      ? 'failed'
      : invariants.some((i) => i.verdict === 'undecided')
        ? 'inconclusive'
        : 'passed',
    startedAt: new Date(wallStart).toISOString(),
    wallMs: Date.now() - wallStart,
    durationMs: o.durationMs,
    apiservers: lab.apiservers.map((a) => a.name),
    operations: {
      writes: writes.length,
      acknowledged: writes.filter((w) => w.type === 'ok').length,
      info: writes.filter((w) => w.type === 'info').length,
      reads: work.length - writes.length,
      failed: work.filter((e) => e.type === 'fail').length,
    },
    faults: applied,
    faultsLeftOut: left,
    invariants,
    timeline: {
      requests: work.map((e) => [e.start - t0, e.apiserver, e.f, e.type, e.end - e.start]),
      health: health.map((h) => [h.t - t0, h.apiserver, h.ok]),
      kmsPerSecond: [...perSecond].map(([k, n]) => {
        const [s, method, code] = k.split('\u0000') as [string, string, string];
        return [Number(s), method, code, n];
      }),
    },
  };
}

// What the nemesis did to the plugin, as the plugin view needs it: when its socket was certainly away, and what
// was done to which key.
function recordLifecycle(plugin: PluginView, f: AppliedFault, t0: number): void {
  if (f.error || f.inForceAt === undefined) return;
  if (f.kind === 'socket-stop' && f.healingAt !== undefined)
    plugin.outages.push({ from: t0 + f.inForceAt, to: t0 + f.healingAt, why: 'the plugin socket was away' });
  // A key disabled at the cloud, or a grant revoked, leaves the key_id unopenable while it lasts, never destroyed.
  if ((f.kind === 'key-disable' || f.kind === 'cloud-disable' || f.kind === 'cloud-revoke') && f.keyId !== undefined) {
    plugin.lifecycle.push({ at: t0 + f.inForceAt, keyId: f.keyId, action: 'disable' });
    plugin.lifecycle.push({ at: t0 + f.healedAt, keyId: f.keyId, action: 'enable' });
  }
}

// A sleep on the lab's clock that ends early when the run is interrupted (a sleeper cancelled on the sim's virtual
// clock no longer holds time back).
function sleep(clock: LabClock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted || ms <= 0) return resolve();
    const t = clock.timeout(ms);
    const stop = () => {
      t.cancel();
      resolve();
    };
    signal?.addEventListener('abort', stop, { once: true });
    void t.done.then(() => {
      signal?.removeEventListener('abort', stop);
      resolve();
    });
  });
}

const abortion = (signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (!signal) return;
    if (signal.aborted) resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
  });

/**
 * recover heals what a run may have left (faults, a stopped socket) and restarts every apiserver, so the check
 * reads through empty caches: what survives is what is stored and what the KMS can still open.
 */
async function recover(lab: Lab, timeoutMs: number, interrupted: () => boolean): Promise<void> {
  await lab.kms.clearFaults();
  await lab.kms.startPlugin();
  for (const a of lab.apiservers) {
    if (interrupted()) throw new ChaosInterrupted();
    await a.restart('live');
  }
  await lab.clock
    .waitFor(
      async () => {
        if (interrupted()) return true;
        for (const a of lab.apiservers) if ((await a.api.request('GET', '/readyz')).status !== 200) return undefined;
        return true;
      },
      { timeoutMs, intervalMs: 1000, what: 'every apiserver to be ready after recovery' },
    )
    .catch(() => undefined); // an apiserver that cannot get ready is what the invariants will show
  if (interrupted()) throw new ChaosInterrupted();
}
