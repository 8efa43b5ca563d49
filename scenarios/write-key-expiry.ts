import type { Lab } from '../harness/lab.js';
import { ScenarioFailure, errorClass } from './error-class.js';
import type { Evidence, ScenarioContext } from './model.js';
import type { SecretSet } from './secret-set.js';

/** WRITE_KEY_TTL_S: the apiserver's write key lives 3 min past the last Status that extended it (config.go). */
export const WRITE_KEY_TTL_S = 180;

/**
 * lastHealthyStatus is when the plugin last answered Status with healthz "ok" (epoch ms, from its audit trail): a
 * write key no later Status extended expires 3 minutes after it.
 */
export async function lastHealthyStatus(lab: Lab): Promise<number> {
  const ok = (await lab.kms.audit({ method: 'Status', code: 'OK' })).filter((r) => r.healthz === undefined).at(-1);
  if (!ok) throw new ScenarioFailure('the audit trail has no healthy Status call');
  return Date.parse(ok.time);
}

/**
 * writesStopAtExpiry writes a Secret every 2 s until one fails, and fails unless that is the expiry error about
 * 3 minutes after `lastGood` (epoch ms): the apiserver's write key ran out, nothing else stopped the writes.
 */
export async function writesStopAtExpiry(
  lab: Lab,
  ctx: ScenarioContext,
  set: SecretSet,
  lastGood: number,
  ev: Evidence,
): Promise<void> {
  let attempt = 0;
  const failure = await ctx.wait(
    'the write key to expire',
    async () => {
      try {
        await set.create(lab.api, `probe-${attempt++}`, 1);
        return undefined;
      } catch (error) {
        return error as Error;
      }
    },
    { timeoutMs: Math.max(0, lastGood + (WRITE_KEY_TTL_S + 90) * 1000 - lab.clock.now()), intervalMs: 2000 },
  );
  ev.writesBeforeExpiry = attempt - 1;
  ev.secondsAfterLastGoodStatus = (lab.clock.now() - lastGood) / 1000;
  ev.error = failure.message;
  ev.errorClass = errorClass(failure);
  if (ev.errorClass !== 'kms-write-key-expired')
    throw new ScenarioFailure(`writes failed, but not with the expiry error: ${failure.message}`);
  const after = ev.secondsAfterLastGoodStatus as number;
  if (after < WRITE_KEY_TTL_S - 5 || after > WRITE_KEY_TTL_S + 20) {
    throw new ScenarioFailure(
      `writes stopped ${after} s after the last good Status, expected about ${WRITE_KEY_TTL_S} s`,
    );
  }
}
