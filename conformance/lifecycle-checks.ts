import { printable } from '../harness/common/printable.js';
import type { KmsCapability } from '../harness/lab.js';
import { isTransportFailure } from '../proxy/index.js';
import { codeOf, outcome, said, settle, tenths, took, unwrap, wrap } from './calls.js';
import { fail, notRun, pass, type Check, type CheckContext } from './check.js';
import { styleOf, WHAT_IT_DOES, type DisabledKeyStatusStyle } from './disabled-key-status.js';
import { fromHealthyStart, isStart, ready, servesAgain, whileDisabled } from './key-state.js';
import { SOURCES } from './sources.js';

const show = (keyId: string) => `"${printable(keyId, 120)}"`;

// A refusal is the plugin answering with an error; no answer at all (the socket gone) is not one.
const refused = (r: { ok: boolean; error?: unknown }) => !r.ok && !isTransportFailure(r.error);
const answer = (r: { ok: true } | { ok: false; error: unknown }) => (r.ok ? 'OK' : codeOf(r.error));

// Every lifecycle check starts from a healthy plugin that wraps and unwraps (key-state.ts ready).
const HEALTHY = ['status-healthz-ok', 'roundtrip-seed'];
// The checks that disable the key Status names, and enable it again.
const DISABLES = { needs: ['disable', 'enable'] as KmsCapability[], after: [...HEALTHY, 'status-key-id-stable'] };

/**
 * The key lifecycle checks, through the user's hooks. Each establishes the state it starts from itself (a healthy
 * plugin; a fresh process where caches would blur the result) and restores the key it disabled, so none depends on
 * what ran before it. Each reports how long every change took to show.
 */
export const HOOK_CHECKS: Check[] = [
  {
    id: 'rotate-new-key-id',
    title: 'a rotation gives a key_id never seen before, in Status and Encrypt',
    level: 'required',
    source: SOURCES.keyIdNew,
    needs: ['rotate'],
    after: [...HEALTHY, 'status-key-id-stable', 'encrypt-key-id-matches-status'],
    async run(ctx) {
      const start = await ready(ctx);
      if (!isStart(start)) return start;
      if (!ctx.seenKeyIds.includes(start.keyId)) ctx.seenKeyIds.push(start.keyId);
      const chain = [start.keyId];
      const shownAfterMs: number[] = [];
      for (let i = 0; i < 2; i++) {
        const before = chain.at(-1)!;
        await ctx.hook('rotate', before);
        const after = await settle(ctx, async () => (await ctx.plugin.status()).keyId !== before);
        if (after === undefined)
          return fail(`Status still reports key_id ${show(before)} ${took(ctx.settleMs)} after the rotate hook`);
        shownAfterMs.push(after);
        const next = (await ctx.plugin.status()).keyId;
        if (ctx.seenKeyIds.includes(next))
          return fail(`the rotation went back to key_id ${show(next)}, seen before: key_ids must never be re-used`, {
            chain: [...chain, next],
          });
        ctx.seenKeyIds.push(next);
        chain.push(next);
        const { keyId } = await wrap(ctx);
        if (keyId !== next) return fail(`after the rotation Status says ${show(next)} but Encrypt says ${show(keyId)}`);
      }
      return pass({ chain: chain.map((k) => printable(k, 200)), shownAfterMs });
    },
  },
  {
    id: 'rotate-old-data-decrypts',
    title: 'after a rotation, what the old key encrypted still decrypts',
    level: 'required',
    source: SOURCES.oldKeys,
    needs: ['rotate'],
    after: [...HEALTHY, 'status-key-id-stable'],
    run: fromHealthyStart(async (ctx, { sealed: before }) => {
      await ctx.hook('rotate', before.keyId);
      const shownAfterMs = await settle(ctx, async () => (await ctx.plugin.status()).keyId !== before.keyId);
      if (shownAfterMs === undefined)
        return notRun('rotate-new-key-id', `not run: Status did not show the rotation within ${took(ctx.settleMs)}`);
      const r = await outcome(unwrap(ctx, before));
      if (!r.ok)
        return fail(
          `a DEK seed wrapped before the rotation no longer decrypts: ${said(r.error)} — every Secret on the old key would be lost until migrated`,
        );
      return r.value.plaintext.equals(before.plaintext)
        ? pass({ shownAfterMs })
        : fail('the old ciphertext decrypted to other bytes after the rotation');
    }),
  },
  {
    id: 'disable-refuses',
    title: 'a disabled key refuses Decrypt and Encrypt',
    level: 'required',
    source: SOURCES.disabledKey,
    ...DISABLES,
    run: fromHealthyStart(async (ctx, { keyId, sealed: w }) =>
      whileDisabled(ctx, keyId, async () => {
        const t0 = ctx.clock.now();
        const shown: { decrypt?: number; encrypt?: number } = {};
        const last = { decrypt: 'OK', encrypt: 'OK' };
        await settle(ctx, async () => {
          if (shown.decrypt === undefined) {
            const d = await outcome(unwrap(ctx, w));
            last.decrypt = answer(d);
            if (refused(d)) shown.decrypt = tenths(ctx.clock.now() - t0);
          }
          if (shown.encrypt === undefined) {
            const e = await outcome(wrap(ctx));
            last.encrypt = answer(e);
            if (refused(e)) shown.encrypt = tenths(ctx.clock.now() - t0);
          }
          return shown.decrypt !== undefined && shown.encrypt !== undefined;
        });
        const evidence = { decryptRefusedAfterMs: shown.decrypt, encryptRefusedAfterMs: shown.encrypt, ...last };
        if (shown.decrypt === undefined || shown.encrypt === undefined)
          return fail(
            `${took(ctx.settleMs)} after the disable hook the key still serves: Decrypt ${last.decrypt}, Encrypt ${last.encrypt}`,
            evidence,
          );
        return pass(evidence);
      }),
    ),
  },
  {
    id: 'disable-status-not-ok',
    title: 'Status stops saying "ok" once the key is disabled (and which failure style it uses)',
    level: 'recommended',
    source: SOURCES.writeKeyExtension,
    needs: ['disable', 'enable'],
    after: [...HEALTHY, 'status-key-id-stable', 'disable-refuses'],
    async run(ctx: CheckContext) {
      // From a freshly started plugin when kmslab can restart it, and polling nothing but Status: no earlier call
      // may have put an error into a health cache (aws-encryption-provider caches its health for 30 s).
      const start = await ready(ctx, { fresh: true });
      if (!isStart(start)) return start;
      return whileDisabled(ctx, start.keyId, async () => {
        let seen: { style: DisabledKeyStatusStyle; said: string } = { style: 'ok', said: 'no Status yet' };
        const shownAfterMs = await settle(ctx, async () => {
          const before = ctx.plugin.invalidUtf8.length;
          const s = await outcome(ctx.plugin.status());
          seen = styleOf(s.ok ? { ...s, invalidUtf8: ctx.plugin.invalidUtf8.length > before } : s, start.keyId);
          return seen.style !== 'ok';
        });
        const evidence = { style: seen.style, status: seen.said, shownAfterMs, freshProcess: start.restarted };
        if (shownAfterMs === undefined)
          return fail(
            `${seen.said} ${took(ctx.settleMs)} after the disable hook (only Status polled${start.restarted ? ', on a freshly started plugin' : ''}): ${WHAT_IT_DOES.ok}. A plugin that caches its health longer than that shows the change later: raise --settle-seconds to measure it`,
            evidence,
          );
        return pass(evidence, `${seen.said} ${took(shownAfterMs)} after the disable hook: ${WHAT_IT_DOES[seen.style]}`);
      });
    },
  },
  {
    id: 'enable-restores',
    title: 're-enabling the key restores Encrypt, Decrypt and a healthy Status',
    level: 'required',
    source: SOURCES.disabledKey,
    ...DISABLES,
    run: fromHealthyStart(async (ctx, { keyId, sealed: w }) => {
      // The enable under test is the one whileDisabled runs on the way out.
      const disabledAfterMs = await whileDisabled(ctx, keyId, () =>
        settle(ctx, async () => refused(await outcome(unwrap(ctx, w)))),
      );
      if (disabledAfterMs === undefined)
        return notRun(
          'disable-refuses',
          `not run: ${took(ctx.settleMs)} after the disable hook the key still decrypted, so there was nothing for enable to restore`,
        );
      const restored = await servesAgain(ctx, w);
      const restoredAfterMs = restored.afterMs;
      if (restoredAfterMs === undefined)
        return fail(`${took(ctx.settleMs)} after the enable hook the key still does not serve: ${restored.last}`, {
          disabledAfterMs,
        });
      ctx.lastEnable = undefined;
      return pass({ disabledAfterMs, restoredAfterMs });
    }),
  },
  {
    id: 'restart-keeps-data',
    title: 'what was encrypted before a plugin restart decrypts after it',
    level: 'required',
    source: SOURCES.restart,
    needs: ['restart'],
    after: HEALTHY,
    run: fromHealthyStart(async (ctx, { sealed: w }) => {
      await ctx.restart();
      const r = await outcome(unwrap(ctx, w));
      if (!r.ok)
        return fail(
          `after a restart the plugin cannot decrypt what it encrypted before: ${said(r.error)} — every Secret would be lost`,
        );
      return r.value.plaintext.equals(w.plaintext)
        ? pass()
        : fail('after a restart the old ciphertext decrypted to other bytes');
    }),
  },
];
