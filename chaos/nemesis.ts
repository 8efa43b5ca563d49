import type { KmsCapability, Lab } from '../harness/lab.js';
import { KINDS, type FaultEvent, type FaultKind } from './fault-kinds.js';
import { kmsThenIdentity } from '../harness/kube/encryption-config.js';
import type { Random } from '../sim/index.js';

const needsOf = (k: FaultKind): readonly KmsCapability[] =>
  (KINDS[k] as { needs?: readonly KmsCapability[] }).needs ?? [];

/** faultUnavailable says why a lab cannot take a kind of fault, or undefined when it can. */
export function faultUnavailable(lab: Lab, kind: FaultKind): string | undefined {
  // Two capabilities often lack for one reason (a cloud fault needs revoke and grant): say it once.
  const missing = new Set(needsOf(kind).map((c) => lab.kms.lacks(c)));
  missing.delete(undefined);
  if (missing.size) return [...missing].join('; ');
  if (kind === 'etcd-kill' && !lab.killEtcd) return `the ${lab.backend} backend has no etcd process to kill`;
  return undefined;
}

/** possibleFaults says which kinds a lab can take, and why the others are left out. */
export function possibleFaults(lab: Lab, kinds: readonly FaultKind[]): { kinds: FaultKind[]; left: string[] } {
  const left: string[] = [];
  const ok = kinds.filter((k) => {
    const why = faultUnavailable(lab, k);
    if (why) left.push(`${k}: ${why}`);
    return !why;
  });
  return { kinds: ok, left };
}

export interface PlanOptions {
  durationMs: number;
  kinds: FaultKind[];
  apiservers: number;
  meanGapMs: number;
  windowMs: [number, number];
  /**
   * The shortest window of a fault that fails the plugin in which the apiservers' health can be judged (their
   * probe caches and the sampling interval must fit inside it).
   */
  decidableMs: number;
}

/**
 * planSchedule draws a seeded schedule: one fault at a time, each healed before a quiet gap and the next, so every
 * violation can be laid at one fault's door. Window lengths and gaps scale with the run. Faults that fail the
 * plugin get windows long enough to judge health in, and when any such kind may be drawn the schedule has at least
 * one (the first fault is made one if the draw had none).
 */
export function planSchedule(random: Random, o: PlanOptions): FaultEvent[] {
  const draw = (forceFailure: boolean) => {
    const r = random;
    const events: FaultEvent[] = [];
    const failing = o.kinds.filter((k) => KINDS[k].failsPlugin);
    let t = Math.round(o.meanGapMs * (0.5 + r.float()));
    while (t < o.durationMs) {
      const pool = forceFailure && events.length === 0 && failing.length ? failing : o.kinds;
      const kind = pool[Math.floor(r.float() * pool.length)]!;
      const [lo, hi] = KINDS[kind].failsPlugin
        ? [Math.max(o.windowMs[0], o.decidableMs), Math.max(o.windowMs[1], Math.round(o.decidableMs * 1.5))]
        : o.windowMs;
      const durationMs = KINDS[kind].windowed ? Math.round(lo + r.float() * (hi - lo)) : 0;
      if (t + durationMs >= o.durationMs) break;
      events.push({
        at: t,
        kind,
        durationMs,
        ...(kind === 'apiserver-restart' ? { target: Math.floor(r.float() * o.apiservers) } : {}),
      });
      t += durationMs + Math.round(o.meanGapMs * (0.5 + r.float()));
    }
    return events;
  };
  if (o.kinds.length === 0) return [];
  const drawn = draw(false);
  return drawn.some((e) => KINDS[e.kind].failsPlugin) ? drawn : draw(true);
}

/** Injected is a fault in force: how to heal it, and the key it acted on (for the KMS's key lifecycle). */
export interface Injected {
  heal: () => Promise<void>;
  keyId?: string;
}

const reloads = new WeakMap<Lab, number>();

function cloudOf(lab: Lab) {
  if (!lab.kms.cloud) throw new Error('this lab has no cloud behind its plugin (start it with --cloud)');
  return lab.kms.cloud;
}

/**
 * inject puts one fault on the lab and returns how to heal it (a no-op for instant faults). Restarts wait for
 * /livez only: a KMS fault in force may keep /readyz red, and that is part of what is being tested.
 */
export async function inject(lab: Lab, e: FaultEvent): Promise<Injected> {
  const none = { heal: async () => undefined };
  const faultWindow = async (spec: Parameters<Lab['kms']['addFault']>[0]) => {
    const f = await lab.kms.addFault(spec);
    return { heal: () => lab.kms.clearFaults(f.id) };
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
      return { heal: () => lab.kms.startPlugin() };
    case 'plugin-kill':
      await lab.kms.restart();
      return none;
    case 'key-rotate':
      return { ...none, keyId: (await lab.kms.rotate()).keyId };
    case 'key-disable': {
      const { keyId } = await lab.kms.status();
      await lab.kms.disable(keyId);
      return { heal: async () => void (await lab.kms.enable(keyId)), keyId };
    }
    case 'apiserver-restart':
      const target = lab.apiservers[e.target ?? 0];
      if (!target) throw new Error(`there is no apiserver ${e.target} in a lab of ${lab.apiservers.length}`);
      await target.restart('live');
      return none;
    case 'apiservers-restart':
      for (const a of lab.apiservers) await a.restart('live');
      return none;
    case 'etcd-kill': {
      if (!lab.killEtcd) throw new Error(`the ${lab.backend} backend has no etcd process to kill`);
      const killed = await lab.killEtcd();
      return { heal: () => killed.restart() };
    }
    case 'cloud-revoke': {
      const cloud = cloudOf(lab);
      const { keyId } = await lab.kms.status();
      await cloud.revoke({ principal: cloud.principal });
      const grant = { principal: cloud.principal, permissions: cloud.clusterPermissions, key: cloud.keyId };
      return { heal: async () => void (await cloud.grant(grant)), keyId };
    }
    case 'cloud-disable': {
      const cloud = cloudOf(lab);
      const { keyId } = await lab.kms.status();
      await cloud.disable();
      return { heal: async () => void (await cloud.enable()), keyId };
    }
    case 'cloud-throttle': {
      const cloud = cloudOf(lab);
      const f = await cloud.addFault({ kind: 'throttle' });
      return { heal: async () => void (await cloud.clearFaults(f.id)) };
    }
    case 'cloud-rotate':
      await cloudOf(lab).rotate();
      return none;
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
