import type { Lab, LabApi } from '../harness/lab.js';
import { ScenarioFailure, errorClass } from './error-class.js';
import type { Evidence, ScenarioContext } from './model.js';
import type { SecretSet } from './secret-set.js';

/** WRITE_KEY_TTL_S: the apiserver's write key lives 3 min past the last Status that extended it (config.go). */
export const WRITE_KEY_TTL_S = 180;
/** How long past the expiry a write must still succeed to show the write key was extended, not merely unexpired. */
export const PAST_EXPIRY_S = 15;

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
  const stop = await firstFailedWrite(lab, ctx, set, lab.api, lastGood, 'probe');
  Object.assign(ev, stop);
  expectExpiryError(stop, WRITE_KEY_TTL_S - 5);
}

/** WriteStop is when writes through one apiserver first failed, and with what. */
export interface WriteStop {
  writesBeforeExpiry: number;
  secondsAfterLastGoodStatus: number;
  error: string;
  errorClass: string;
}

/**
 * firstFailedWrite writes a Secret through `api` every 2 s until one fails (at most until 90 s past the expiry that
 * `lastGood`, epoch ms, sets) and says when that was and how.
 */
export async function firstFailedWrite(
  lab: Lab,
  ctx: ScenarioContext,
  set: SecretSet,
  api: LabApi,
  lastGood: number,
  name: string,
): Promise<WriteStop> {
  let attempt = 0;
  const failure = await ctx.wait(
    `the write key to expire (writes as ${name})`,
    async () => {
      try {
        await set.create(api, `${name}-${attempt++}`, 1);
        return undefined;
      } catch (error) {
        return error as Error;
      }
    },
    { timeoutMs: Math.max(0, lastGood + (WRITE_KEY_TTL_S + 90) * 1000 - lab.clock.now()), intervalMs: 2000 },
  );
  return {
    writesBeforeExpiry: attempt - 1,
    secondsAfterLastGoodStatus: (lab.clock.now() - lastGood) / 1000,
    error: failure.message,
    errorClass: errorClass(failure),
  };
}

/**
 * expectExpiryError fails unless writes stopped with the expiry error, no sooner than `earliest` and no later than
 * 20 s past the 3 minutes after the last good Status.
 */
export function expectExpiryError(stop: WriteStop, earliest: number): void {
  if (stop.errorClass !== 'kms-write-key-expired')
    throw new ScenarioFailure(`writes failed, but not with the expiry error: ${stop.error}`);
  const after = stop.secondsAfterLastGoodStatus;
  if (after < earliest || after > WRITE_KEY_TTL_S + 20) {
    throw new ScenarioFailure(
      `writes stopped ${after} s after the last good Status, expected about ${WRITE_KEY_TTL_S} s`,
    );
  }
}
