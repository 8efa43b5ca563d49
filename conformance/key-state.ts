import { printable } from '../harness/common/printable.js';
import { outcome, said, settle, took, unwrap, wrap } from './calls.js';
import { fail, notRun, type CheckContext, type Verdict } from './check.js';

/** Where a lifecycle check starts: the current key_id, whether kmslab restarted the plugin, how long it took. */
export interface Start {
  keyId: string;
  restarted: boolean;
  afterMs: number;
}

/**
 * ready establishes the state a lifecycle check starts from, whatever the checks before it did: the plugin (first
 * restarted, when `fresh` and kmslab can, so no cache of an earlier check survives) answers Status with healthz
 * "ok" and wraps and unwraps a seed, within the settle time. When it cannot, the verdict says whose fault that is:
 * an enable hook that did not bring the key back (enable-restores), or the plugin itself.
 */
export async function ready(ctx: CheckContext, options: { fresh?: boolean } = {}): Promise<Start | Verdict> {
  const restarted = Boolean(options.fresh && ctx.canRestart);
  if (restarted) await ctx.restart();
  let keyId = '';
  let last = 'no answer yet';
  const not = (why: string) => {
    last = why;
    return false;
  };
  const afterMs = await settle(ctx, async () => {
    const s = await outcome(ctx.plugin.status());
    if (!s.ok) return not(`Status failed: ${said(s.error)}`);
    if (s.value.healthz !== 'ok') return not(`Status says healthz "${printable(s.value.healthz, 200)}"`);
    const w = await outcome(wrap(ctx));
    if (!w.ok) return not(`Encrypt failed: ${said(w.error)}`);
    const back = await outcome(unwrap(ctx, w.value));
    if (!back.ok) return not(`Decrypt failed: ${said(back.error)}`);
    keyId = s.value.keyId;
    return true;
  });
  if (afterMs !== undefined) {
    ctx.lastEnable = undefined;
    return { keyId, restarted, afterMs };
  }
  const why = `the plugin was not healthy within ${took(ctx.settleMs)} (last: ${last})`;
  const enabled = ctx.lastEnable;
  if (enabled && ctx.current === 'enable-restores')
    return fail(
      `key ${enabled.keyId} did not serve again after the enable hook (run at the end of ${enabled.by}): ${why}`,
    );
  if (enabled)
    return notRun(
      'enable-restores',
      `could not start: key ${enabled.keyId} did not serve again after the enable hook (run at the end of ${enabled.by}): ${why}`,
    );
  return fail(`could not start from a healthy plugin: ${why}`);
}

export const isStart = (s: Start | Verdict): s is Start => 'keyId' in s;

/**
 * fromHealthyStart makes a check's `run` that first establishes its start (`ready`) and wraps a seed under the
 * current key, for checks that follow that seed through a change; when the start cannot be had, that is the verdict.
 */
export function fromHealthyStart(
  body: (ctx: CheckContext, start: Start & { sealed: Sealed }) => Promise<Verdict>,
): (ctx: CheckContext) => Promise<Verdict> {
  return async (ctx) => {
    const start = await ready(ctx);
    return isStart(start) ? body(ctx, { ...start, sealed: await wrap(ctx) }) : start;
  };
}

export type Sealed = Awaited<ReturnType<typeof wrap>>;

/**
 * servesAgain waits (up to the settle time) for the plugin to serve by itself after a key or its cloud came back:
 * Status "ok", the seed sealed before unwrapped to its bytes, a fresh one wrapped. `afterMs` is undefined when it did
 * not, and `last` says what it answered last.
 */
export async function servesAgain(ctx: CheckContext, sealed: Sealed): Promise<{ afterMs?: number; last: string }> {
  let last = 'no answer yet';
  const afterMs = await settle(ctx, async () => {
    const s = await outcome(ctx.plugin.status());
    if (!s.ok || s.value.healthz !== 'ok') {
      last = s.ok ? `Status says healthz "${printable(s.value.healthz, 120)}"` : `Status failed: ${said(s.error)}`;
      return false;
    }
    const old = await outcome(unwrap(ctx, sealed));
    if (!old.ok || !old.value.plaintext.equals(sealed.plaintext)) {
      last = old.ok ? 'Decrypt returned other bytes' : `Decrypt failed: ${said(old.error)}`;
      return false;
    }
    const fresh = await outcome(wrap(ctx));
    if (!fresh.ok) last = `Encrypt failed: ${said(fresh.error)}`;
    return fresh.ok;
  });
  return { ...(afterMs === undefined ? {} : { afterMs }), last };
}

/**
 * whileDisabled runs `body` with key `keyId` disabled through the user's hooks, and enables it again afterwards
 * whatever happens — a failed check, a dead plugin, Ctrl-C — so conformance never leaves a real key disabled.
 */
export async function whileDisabled<T>(ctx: CheckContext, keyId: string, body: () => Promise<T>): Promise<T> {
  try {
    await ctx.hook('disable', keyId);
    return await body();
  } finally {
    await ctx.hook('enable', keyId);
    ctx.lastEnable = { keyId, by: ctx.current };
  }
}
