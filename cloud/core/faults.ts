import { z } from 'zod';
import { seededRandom, systemRandom, type Random } from '../../sim/index.js';

const common = {
  /**
   * The API action it applies to (e.g. Encrypt, AssumeRole), several separated by commas (`Encrypt,Decrypt`: one
   * fault, so a rate limit is a quota they share, as a cloud's cryptographic operations do), or `all`. Connection
   * faults apply to every action.
   */
  action: z.string().min(1).max(64).default('all'),
  /** Apply to at most this many matching requests (or connections), then retire. */
  count: z.number().int().positive().optional(),
  /** Apply to each matching request with this probability (drawn from `seed` when given). */
  probability: z.number().min(0).max(1).optional(),
  seed: z.union([z.string(), z.number()]).optional(),
};

/**
 * CloudFaultSpec is a fault a user asks for, mirroring the fake KMS's model (kind, count, probability, seed):
 * - throttle: the service's own throttling error; with `ratePerSecond`, only requests above that rate;
 * - error: an HTTP error of the service (default 500 and the service's internal-failure code);
 * - latency / hang: the answer comes `ms` late, or not until the fault is cleared;
 * - reset: the request is read, then the connection is reset (no answer);
 * - tls-failure: the TLS handshake fails (the server answers with bytes that are not TLS);
 * - unreachable: new connections are reset as soon as they are accepted (nothing answers at that address);
 * - region-outage: every service of the region (KMS, STS, credentials) answers that it is unavailable.
 */
export const CloudFaultSpec = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('throttle'), ...common, ratePerSecond: z.number().positive().max(1e6).optional() }),
  z.strictObject({
    kind: z.literal('error'),
    ...common,
    status: z.number().int().min(400).max(599).default(500),
    code: z.string().min(1).max(128).optional(),
    message: z.string().max(1024).optional(),
  }),
  z.strictObject({ kind: z.literal('latency'), ...common, ms: z.number().int().min(0).max(600_000) }),
  z.strictObject({ kind: z.literal('hang'), ...common }),
  z.strictObject({ kind: z.literal('reset'), ...common }),
  z.strictObject({ kind: z.literal('tls-failure'), ...common, action: z.literal('all').default('all') }),
  z.strictObject({ kind: z.literal('unreachable'), ...common, action: z.literal('all').default('all') }),
  z.strictObject({ kind: z.literal('region-outage'), ...common }),
]);
export type CloudFaultSpec = z.input<typeof CloudFaultSpec>;
type Parsed = z.output<typeof CloudFaultSpec>;
export type ActiveCloudFault = Parsed & { id: string; fired: number };

/** RequestEffects are what the matching faults do to one request, applied by a front in this order. */
export interface RequestEffects {
  faultIds: string[];
  delayMs: number;
  hang?: string;
  reset?: boolean;
  outage?: boolean;
  throttle?: boolean;
  error?: { status: number; code?: string; message?: string };
}

const CONNECTION_KINDS = new Set(['tls-failure', 'unreachable']);

/**
 * CloudFaults decides which faults fire for each request and each new connection. Hangs wait on a signal that
 * `clear` raises. Rate-limited throttles keep a one-second window per fault.
 */
export class CloudFaults {
  private readonly active: ActiveCloudFault[] = [];
  private readonly randoms = new Map<string, Random>();
  private readonly windows = new Map<string, { start: number; n: number }>();
  private nextId = 1;
  private release = signal();
  private readonly cuts = new Set<() => void>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly random: Random = systemRandom,
  ) {}

  add(spec: CloudFaultSpec): ActiveCloudFault {
    const parsed = CloudFaultSpec.parse(spec);
    const fault: ActiveCloudFault = { ...parsed, id: `f${this.nextId++}`, fired: 0 };
    this.active.push(fault);
    if (parsed.probability !== undefined)
      this.randoms.set(fault.id, parsed.seed === undefined ? this.random : seededRandom(parsed.seed));
    // An address where nothing answers any more serves no connection: those already open end too (not only new ones).
    if (parsed.kind === 'unreachable' && parsed.count === undefined && parsed.probability === undefined)
      for (const cut of this.cuts) cut();
    return { ...fault };
  }

  /** onCut registers what ends every open connection, called when an `unreachable` fault covers all of them. */
  onCut(cut: () => void): void {
    this.cuts.add(cut);
  }

  list(): ActiveCloudFault[] {
    return this.active.map((f) => ({ ...f }));
  }

  clear(id?: string): number {
    const before = this.active.length;
    for (let i = this.active.length - 1; i >= 0; i--)
      if (id === undefined || this.active[i]!.id === id) this.active.splice(i, 1);
    const removed = before - this.active.length;
    if (removed > 0) {
      this.release.raise();
      this.release = signal();
    }
    return removed;
  }

  get released(): Promise<void> {
    return this.release.raised;
  }

  stillHanging(id: string): boolean {
    return this.active.some((f) => f.id === id);
  }

  /** onConnection draws the connection faults for a newly accepted connection. */
  onConnection(): 'tls-failure' | 'unreachable' | undefined {
    for (const fault of [...this.active]) {
      if (!CONNECTION_KINDS.has(fault.kind) || !this.fires(fault)) continue;
      return fault.kind as 'tls-failure' | 'unreachable';
    }
    return undefined;
  }

  /** onRequest draws the request faults for one API action. */
  onRequest(action: string): RequestEffects {
    const out: RequestEffects = { faultIds: [], delayMs: 0 };
    for (const fault of [...this.active]) {
      if (CONNECTION_KINDS.has(fault.kind)) continue;
      if (fault.action !== 'all' && !fault.action.split(',').includes(action)) continue;
      if (fault.kind === 'throttle' && fault.ratePerSecond !== undefined && this.withinRate(fault)) continue;
      if (!this.fires(fault)) continue;
      out.faultIds.push(fault.id);
      switch (fault.kind) {
        case 'throttle':
          out.throttle = true;
          break;
        case 'error':
          out.error ??= {
            status: fault.status,
            ...(fault.code ? { code: fault.code } : {}),
            ...(fault.message ? { message: fault.message } : {}),
          };
          break;
        case 'latency':
          out.delayMs += fault.ms;
          break;
        case 'hang':
          out.hang ??= fault.id;
          break;
        case 'reset':
          out.reset = true;
          break;
        case 'region-outage':
          out.outage = true;
          break;
      }
    }
    return out;
  }

  // fires counts a matching fault if its count and probability let it fire; a count-limited fault retires when used
  // up (a hang stays listed, so the requests it holds wait until it is cleared).
  private fires(fault: ActiveCloudFault): boolean {
    if (fault.count !== undefined && fault.fired >= fault.count) return false;
    if (fault.probability !== undefined && this.randoms.get(fault.id)!.float() >= fault.probability) return false;
    fault.fired++;
    if (fault.count !== undefined && fault.fired >= fault.count && fault.kind !== 'hang')
      this.active.splice(this.active.indexOf(fault), 1);
    return true;
  }

  // withinRate: true while this second's requests stay within the fault's rate (those pass untouched).
  private withinRate(fault: ActiveCloudFault & { ratePerSecond?: number }): boolean {
    const now = this.now();
    let w = this.windows.get(fault.id);
    if (!w || now - w.start >= 1000) this.windows.set(fault.id, (w = { start: now, n: 0 }));
    w.n++;
    return w.n <= fault.ratePerSecond!;
  }
}

function signal(): { raised: Promise<void>; raise: () => void } {
  let raise!: () => void;
  const raised = new Promise<void>((resolve) => (raise = resolve));
  return { raised, raise };
}
