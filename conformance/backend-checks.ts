import type { KmsMethod } from '../fake-kms/index.js';
import { codeOf, outcome, settle, took, unwrap, wrap } from './calls.js';
import { fail, pass, type Check, type CheckContext, type Verdict } from './check.js';
import { fromHealthyStart, servesAgain, type Sealed } from './key-state.js';
import { SOURCES } from './sources.js';

/** The apiserver's deadline for each call: the provider's timeout (3 s by default), as the session's client uses. */
export const DEADLINE_MS = 3_000;
// An answer this close to the deadline is one the apiserver's call, which started a little earlier, never got.
const MARGIN_MS = 100;

/** What a check asks of the cloud behind the plugin: a failure put on until `heal`. */
export type BackendFailure = 'unreachable' | 'hang' | 'throttle' | 'expired-credentials';

/**
 * CheckBackend is the cloud KMS behind the plugin under test (`conformance --cloud`), as the backend checks drive
 * it: each failure stays until `heal`, which also undoes whatever the failure changed.
 */
export interface CheckBackend {
  /**
   * fail makes the plugin's cloud fail this way: `unreachable` (connections reset), `hang` (no answer), `throttle`
   * (the service's throttling error), `expired-credentials` (the plugin's temporary credentials end now and their
   * refresh fails).
   */
  fail(failure: BackendFailure): Promise<void>;
  heal(): Promise<void>;
}

/** One call under a backend failure: how the plugin answered and how long it took (ms, the check's clock). */
export interface TimedAnswer {
  method: KmsMethod;
  code: string;
  ms: number;
  healthz?: string;
}

/** late names the answers the apiserver would not have waited for. */
export const late = (answers: TimedAnswer[]) => answers.filter((a) => a.ms >= DEADLINE_MS - MARGIN_MS);

// callsUnder makes each call once while the backend fails, timing each, as the apiserver would make it.
async function callsUnder(ctx: CheckContext, sealed: Sealed): Promise<TimedAnswer[]> {
  const answers: TimedAnswer[] = [];
  const calls: Array<[KmsMethod, () => Promise<unknown>]> = [
    ['Status', () => ctx.plugin.status()],
    ['Encrypt', () => wrap(ctx)],
    ['Decrypt', () => unwrap(ctx, sealed)],
  ];
  for (const [method, call] of calls) {
    const t = ctx.clock.now();
    const r = await outcome(call());
    const ms = Math.round(ctx.clock.now() - t);
    const healthz = r.ok && method === 'Status' ? (r.value as { healthz: string }).healthz : undefined;
    answers.push({ method, code: r.ok ? 'OK' : codeOf(r.error), ms, ...(healthz === undefined ? {} : { healthz }) });
  }
  return answers;
}

// reported: the plugin's Status did not say "ok" while its backend failed (a failed Status says so too).
const reported = (answers: TimedAnswer[]) =>
  answers.some((a) => a.method === 'Status' && (a.code !== 'OK' || a.healthz !== 'ok'));

/**
 * underFailure puts each failure on in turn, holds every answer to the deadline, always heals, and then waits for
 * the plugin to serve again by itself. Its verdict names the first call answered too late, or a plugin that did
 * not come back within the settle time.
 */
async function underFailure(
  ctx: CheckContext,
  sealed: Sealed,
  failures: BackendFailure[],
  whileFailing?: (failure: BackendFailure) => Promise<void>,
): Promise<Verdict> {
  const backend = ctx.backend!;
  const evidence: Record<string, unknown> = {};
  const silent: string[] = [];
  for (const failure of failures) {
    let answers: TimedAnswer[];
    try {
      await backend.fail(failure);
      await whileFailing?.(failure);
      answers = await callsUnder(ctx, sealed);
    } finally {
      await backend.heal();
    }
    const back = await servesAgain(ctx, sealed);
    evidence[failure] = { answers, statusReported: reported(answers), recoveredAfterMs: back.afterMs };
    const tooLate = late(answers);
    if (tooLate.length) {
      const a = tooLate[0]!;
      return fail(
        `with the cloud ${describe(failure)}, ${a.method} answered after ${took(a.ms)} (${a.code}): at or past the apiserver's ${took(DEADLINE_MS)} deadline, which had given up — the plugin must fail fast, not wait or retry past it`,
        evidence,
      );
    }
    if (answers.every((a) => a.code === 'OK' && (a.method !== 'Status' || a.healthz === 'ok')))
      return fail(
        `every call succeeded with the cloud ${describe(failure)}: the failure never reached the plugin's calls (does it call this cloud, as the identity whose credentials were changed?)`,
        evidence,
      );
    if (back.afterMs === undefined)
      return fail(
        `${took(ctx.settleMs)} after the cloud was healed (${failure}) the plugin still does not serve: ${back.last} (a plugin that fetches credentials or connections only on an interval comes back later: raise --settle-seconds past it)`,
        evidence,
      );
    if (!reported(answers)) silent.push(describe(failure));
  }
  return pass(
    evidence,
    silent.length
      ? `Status still said "ok" with the cloud ${silent.join(', ')}: /healthz/kms-providers stays green while every DEK-seed call fails`
      : undefined,
  );
}

const describe = (f: BackendFailure) =>
  ({
    unreachable: 'unreachable',
    hang: 'hanging',
    throttle: 'throttling every request',
    'expired-credentials': 'refusing expired credentials while their refresh failed',
  })[f];

/**
 * The backend checks (`conformance --cloud`): the plugin's answers while its cloud KMS fails. Each starts from a
 * healthy plugin, heals the cloud on every way out, and requires the plugin to serve again by itself afterwards.
 */
export const BACKEND_CHECKS: Check[] = [
  {
    id: 'backend-outage',
    title: "with its cloud KMS unreachable or hanging, the plugin fails each call within the apiserver's deadline",
    level: 'required',
    source: SOURCES.backendDeadline,
    needs: ['cloud-faults'],
    after: ['status-healthz-ok', 'roundtrip-seed'],
    run: fromHealthyStart((ctx, { sealed }) => underFailure(ctx, sealed, ['unreachable', 'hang'])),
  },
  {
    id: 'backend-throttled',
    title: "with its cloud KMS throttling, the plugin fails each call within the apiserver's deadline",
    level: 'required',
    source: SOURCES.backendDeadline,
    needs: ['cloud-faults'],
    after: ['status-healthz-ok', 'roundtrip-seed'],
    run: fromHealthyStart((ctx, { sealed }) => underFailure(ctx, sealed, ['throttle'])),
  },
  {
    id: 'backend-credentials-expired',
    title: 'with its credentials expired and their refresh failing, the plugin fails fast, then recovers by itself',
    level: 'recommended',
    source: SOURCES.backendCredentials,
    needs: ['cloud-faults', 'cloud-expire-credentials'],
    after: ['status-healthz-ok', 'roundtrip-seed'],
    run: fromHealthyStart((ctx, { sealed }) =>
      underFailure(ctx, sealed, ['expired-credentials'], async () => {
        // The plugin may still hold a token that was valid a moment ago: wait for its first refused call.
        await settle(ctx, async () => !(await outcome(wrap(ctx))).ok);
      }),
    ),
  },
];
