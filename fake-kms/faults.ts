import { z } from 'zod';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { seededRandom, systemRandom, type Random } from '../sim/index.js';

import { GRPC_ERROR_CODES, KMS_METHODS, type KmsMethod } from './names.js';

export { KMS_METHODS, type KmsMethod };

const grpcCodeNames = [...GRPC_ERROR_CODES] as [string, ...string[]];

const common = {
  method: z.enum(['Status', 'Encrypt', 'Decrypt', 'all']).default('all'),
  /** Apply to at most this many matching calls, then retire. */
  count: z.number().int().positive().optional(),
  /** Apply to each matching call with this probability (drawn from `seed` when given). */
  probability: z.number().min(0).max(1).optional(),
  seed: z.union([z.string(), z.number()]).optional(),
};

/** FaultSpec is what a user asks for; validated with zod so the control API can answer a clear 400. */
export const FaultSpec = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('error'),
    ...common,
    code: z.enum(grpcCodeNames).default('UNAVAILABLE'),
    message: z.string().default('injected by kmslab fake-kms'),
  }),
  z.strictObject({ kind: z.literal('latency'), ...common, ms: z.number().int().min(0).max(600_000) }),
  /** hang: the call never answers until the fault is cleared; the apiserver's per-call timeout fires first. */
  z.strictObject({ kind: z.literal('hang'), ...common }),
  /** healthz: Status answers with this healthz string instead of "ok". */
  z.strictObject({
    kind: z.literal('healthz'),
    ...common,
    method: z.literal('Status').default('Status'),
    value: z.string(),
  }),
  /** key-id: Status or Encrypt report this key_id instead of the true one (Encrypt still wraps with the truth). */
  z.strictObject({
    kind: z.literal('key-id'),
    ...common,
    method: z.enum(['Status', 'Encrypt']).default('Status'),
    value: z.string(),
  }),
  /** version: Status reports this API version instead of "v2". */
  z.strictObject({
    kind: z.literal('version'),
    ...common,
    method: z.literal('Status').default('Status'),
    value: z.string(),
  }),
  /** annotations: Encrypt returns these annotations (e.g. an invalid key or an oversize value). */
  z.strictObject({
    kind: z.literal('annotations'),
    ...common,
    method: z.literal('Encrypt').default('Encrypt'),
    value: z.record(z.string(), z.string()),
  }),
]);
export type FaultSpec = z.input<typeof FaultSpec>;
export type ParsedFault = z.output<typeof FaultSpec>;

/** ActiveFault is a fault in force, with how often it fired. */
export type ActiveFault = ParsedFault & { id: string; fired: number };

// A count-limited hang stays listed once used up: the calls it holds wait until it is cleared.
const exhausted = (f: ActiveFault) => f.count !== undefined && f.fired >= f.count;

/** Effects are what the matching faults do to one call, applied by the service in a fixed order. */
export interface Effects {
  faultIds: string[];
  delayMs: number;
  /** The hang fault holding this call, if any. */
  hang?: string;
  error?: { code: number; message: string };
  healthz?: string;
  keyId?: string;
  version?: string;
  annotations?: Record<string, string>;
}

/**
 * Faults holds the faults in force and decides, per call, which of them fire. Hangs wait on a signal
 * that `clear` raises, so clearing a hang releases the calls it holds.
 */
export class Faults {
  private readonly active: ActiveFault[] = [];
  private readonly randoms = new Map<string, Random>();
  private nextId = 1;

  /** random draws probabilistic faults that name no seed of their own (the sim passes its seeded stream). */
  constructor(private readonly random: Random = systemRandom) {}

  private release = signal();

  add(spec: FaultSpec): ActiveFault {
    const parsed = FaultSpec.parse(spec);
    const fault: ActiveFault = { ...parsed, id: `f${this.nextId++}`, fired: 0 };
    this.active.push(fault);
    if (parsed.probability !== undefined) {
      this.randoms.set(fault.id, parsed.seed === undefined ? this.random : seededRandom(parsed.seed));
    }
    return fault;
  }

  list(): ActiveFault[] {
    return this.active.map((f) => ({ ...f }));
  }

  /** clear removes one fault by id, or all; returns how many were removed. */
  clear(id?: string): number {
    const before = this.active.length;
    for (let i = this.active.length - 1; i >= 0; i--) {
      if (id === undefined || this.active[i]!.id === id) this.active.splice(i, 1);
    }
    const removed = before - this.active.length;
    if (removed > 0) {
      this.release.raise();
      this.release = signal();
    }
    return removed;
  }

  /** released resolves the next time any fault is cleared: a held call then re-evaluates. */
  get released(): Promise<void> {
    return this.release.raised;
  }

  /** stillHanging tells a held call whether the hang fault holding it is still in force. */
  stillHanging(faultId: string): boolean {
    return this.active.some((f) => f.id === faultId);
  }

  /** effects draws which faults fire for one call and counts them; retires count-limited faults. */
  effects(method: KmsMethod): Effects {
    const out: Effects = { faultIds: [], delayMs: 0 };
    for (const fault of [...this.active]) {
      if (fault.method !== 'all' && fault.method !== method) continue;
      if (exhausted(fault)) continue;
      if (fault.probability !== undefined && this.randoms.get(fault.id)!.float() >= fault.probability) continue;
      fault.fired++;
      out.faultIds.push(fault.id);
      if (exhausted(fault) && fault.kind !== 'hang') this.active.splice(this.active.indexOf(fault), 1);
      switch (fault.kind) {
        case 'error':
          out.error ??= { code: GrpcStatus[fault.code as keyof typeof GrpcStatus], message: fault.message };
          break;
        case 'latency':
          out.delayMs += fault.ms;
          break;
        case 'hang':
          out.hang ??= fault.id;
          break;
        case 'healthz':
          out.healthz = fault.value;
          break;
        case 'key-id':
          out.keyId = fault.value;
          break;
        case 'version':
          out.version = fault.value;
          break;
        case 'annotations':
          out.annotations = fault.value;
          break;
      }
    }
    return out;
  }
}

// A one-shot signal (Promise.withResolvers needs Node 22).
function signal(): { raised: Promise<void>; raise: () => void } {
  let raise!: () => void;
  const raised = new Promise<void>((resolve) => (raise = resolve));
  return { raised, raise };
}
