import type { KmsCapability, Lab } from '../harness/lab.js';
import { KINDS, type FaultEvent, type FaultKind } from './fault-kinds.js';
import { kmsThenIdentity } from '../harness/kube/encryption-config.js';
import type { Random } from '../sim/index.js';

const needsOf = (k: FaultKind): readonly KmsCapability[] =>
  (KINDS[k] as { needs?: readonly KmsCapability[] }).needs ?? [];

/** possibleFaults says which kinds a lab can take, and why the others are left out. */
export function possibleFaults(lab: Lab, kinds: readonly FaultKind[]): { kinds: FaultKind[]; left: string[] } {
  const left: string[] = [];
  const ok = kinds.filter((k) => {
    const missing = needsOf(k)
      .map((c) => lab.kms.lacks(c))
      .filter(Boolean);
    if (missing.length) left.push(`${k}: ${missing.join('; ')}`);
    else if (k === 'etcd-kill' && !lab.killEtcd)
      left.push(`${k}: the ${lab.backend} backend has no etcd process to kill`);
    else return true;
    return false;
  });
  return { kinds: ok, left };
}

/**
 * planSchedule draws a seeded schedule: one fault at a time, each healed before a quiet gap and the next, so every
 * violation can be laid at one fault's door. Window lengths and gaps scale with the run (`spanMs`).
 */
export function planSchedule(
  random: Random,
  o: { durationMs: number; kinds: FaultKind[]; apiservers: number; meanGapMs: number; windowMs: [number, number] },
): FaultEvent[] {
  const events: FaultEvent[] = [];
  if (o.kinds.length === 0) return events;
  let t = Math.round(o.meanGapMs * (0.5 + random.float()));
  while (t < o.durationMs) {
    const kind = o.kinds[Math.floor(random.float() * o.kinds.length)]!;
    const [lo, hi] = o.windowMs;
    const durationMs = KINDS[kind].windowed ? Math.round(lo + random.float() * (hi - lo)) : 0;
    if (t + durationMs >= o.durationMs) break;
    events.push({
      at: t,
      kind,
      durationMs,
      ...(kind === 'apiserver-restart' ? { target: Math.floor(random.float() * o.apiservers) } : {}),
    });
    t += durationMs + Math.round(o.meanGapMs * (0.5 + random.float()));
  }
  return events;
}

const reloads = new WeakMap<Lab, number>();

/**
 * inject puts one fault on the lab and returns how to heal it (a no-op for instant faults). Restarts wait for
 * /livez only: a KMS fault in force may keep /readyz red, and that is part of what is being tested.
 */
export async function inject(lab: Lab, e: FaultEvent): Promise<() => Promise<void>> {
  const none = async () => undefined;
  const faultWindow = async (spec: Parameters<Lab['kms']['addFault']>[0]) => {
    const f = await lab.kms.addFault(spec);
    return () => lab.kms.clearFaults(f.id);
  };
  switch (e.kind) {
    case 'kms-error':
      return faultWindow({ kind: 'error', code: 'UNAVAILABLE', message: 'injected by kmslab chaos' });
    case 'kms-latency':
      return faultWindow({ kind: 'latency', ms: 2500 });
    case 'kms-hang':
      return faultWindow({ kind: 'hang' });
    case 'healthz-lie':
      return faultWindow({ kind: 'healthz', value: 'chaos: not ok' });
    case 'key-id-lie':
      return faultWindow({ kind: 'key-id', method: 'Status', value: `chaos-lie-${e.at}` });
    case 'socket-stop':
      await lab.kms.stopPlugin();
      return () => lab.kms.startPlugin();
    case 'plugin-kill':
      await lab.kms.restart();
      return none;
    case 'key-rotate':
      await lab.kms.rotate();
      return none;
    case 'key-disable': {
      const { keyId } = await lab.kms.status();
      await lab.kms.disable(keyId);
      return async () => void (await lab.kms.enable(keyId));
    }
    case 'apiserver-restart':
      await lab.apiservers[e.target ?? 0]!.restart('live');
      return none;
    case 'apiservers-restart':
      for (const a of lab.apiservers) await a.restart('live');
      return none;
    case 'etcd-kill': {
      const killed = await lab.killEtcd!();
      return () => killed.restart();
    }
    case 'config-reload': {
      // The same config in other words (the timeout written 3s or 3000ms): the apiserver reloads on any change of
      // the file's bytes, and each reload builds new KMS probes, so every apiserver wraps a new DEK seed.
      const n = (reloads.get(lab) ?? 0) + 1;
      reloads.set(lab, n);
      const timeout = n % 2 ? '3000ms' : '3s'; // the lab started with 3s
      const rules = (lab.kmsRules ?? [kmsThenIdentity(lab.providerName, lab.kmsSocket)]).map((r) => ({
        ...r,
        providers: r.providers.map((p) => ('kms' in p ? { kms: { ...p.kms, timeout } } : p)),
      }));
      // All at once: each apiserver polls its file about once a minute.
      await Promise.all(lab.apiservers.map((a) => a.setEncryption(rules, 'reload')));
      return none;
    }
  }
}
