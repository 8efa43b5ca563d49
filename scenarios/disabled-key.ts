import type { AuditRecord, HealthStyle } from '../fake-kms/index.js';
import type { Lab } from '../harness/lab.js';
import { auditMark } from './audit-mark.js';
import { ScenarioFailure } from './error-class.js';
import type { Evidence } from './model.js';
import { lastHealthyStatus } from './write-key-expiry.js';

/**
 * What a plugin's Status did once its key was disabled, seen in its audit trail: the two styles real plugins use
 * (kubernetes/kubernetes#138950), or a Status that names another key_id or still says "ok".
 */
export type SeenHealthStyle = 'fail-rpc' | 'not-ok-keep-key-id' | 'other-key-id' | 'ok' | 'no-status';

/** What each style does to the apiserver, from config.go `rotateDEKOnKeyIDChange` (v1.37.2), as measured here. */
export const STYLE_MEANS: Record<SeenHealthStyle, string> = {
  'fail-rpc':
    'a failed Status does not extend the write key: writes fail 3 min after the last good Status; a restarted apiserver never asks for a DEK seed',
  'not-ok-keep-key-id':
    'a Status with a valid, unchanged key_id extends the write key whatever healthz says: writes go on while the key is disabled; a restarted apiserver asks for a DEK seed and is refused',
  'other-key-id': 'the apiserver tries to rotate to that key_id (an Encrypt); if that fails writes stop 3 min later',
  ok: 'the apiserver sees nothing wrong: writes go on and /healthz stays green',
  'no-status': 'no Status call was made in the window, so nothing can be said',
};

/**
 * healthStyleSeen reads the Status calls after `afterSeq`: any failed call makes it `fail-rpc`; otherwise the last
 * answer decides — another key_id, healthz not "ok" with `keyId`, or "ok".
 */
export async function healthStyleSeen(
  lab: Lab,
  afterSeq: number,
  keyId: string,
): Promise<{ style: SeenHealthStyle; statusCalls: number; said?: string }> {
  const calls = await lab.kms.audit({ method: 'Status', afterSeq });
  return { ...styleOf(calls, keyId), statusCalls: calls.length };
}

/** styleOf judges Status audit records (oldest first) made while `keyId` was disabled. */
export function styleOf(calls: AuditRecord[], keyId: string): { style: SeenHealthStyle; said?: string } {
  const failed = calls.find((r) => r.code !== 'OK');
  if (failed) return { style: 'fail-rpc', said: `${failed.code}: ${(failed.message ?? '').slice(0, 200)}` };
  const last = calls.at(-1);
  if (!last) return { style: 'no-status' };
  if (last.keyId !== keyId) return { style: 'other-key-id', said: `key_id ${last.keyId.slice(0, 120)}` };
  if (last.healthz !== undefined) return { style: 'not-ok-keep-key-id', said: last.healthz.slice(0, 200) };
  return { style: 'ok', said: 'ok' };
}

/**
 * DisabledKey is a key a scenario disables, enabled again on every way out: `whileDisabled` runs the scenario's
 * steps and, if they stop before the scenario enabled the key itself, enables it. A key left disabled breaks
 * whatever runs next on the same plugin (the next lab of an external plugin, a conformance run).
 */
export class DisabledKey {
  private disabled = false;

  constructor(
    private readonly lab: Lab,
    readonly keyId: string,
  ) {}

  async disable(): Promise<void> {
    // Counted as disabled before the call: a hook that fails half-way may still have disabled it.
    this.disabled = true;
    await this.lab.kms.disable(this.keyId);
  }

  async enable(): Promise<void> {
    await this.lab.kms.enable(this.keyId);
    this.disabled = false;
  }

  /**
   * whileDisabled runs `steps` (which disable the key, and normally enable it again at the end). Whatever way they
   * end — a failed step, an interrupt — a key still disabled is enabled before this returns or throws. The steps'
   * own failure is the one reported; a failed re-enable is added to its message.
   */
  async whileDisabled<T>(steps: () => Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await steps();
    } catch (error) {
      const restored = await this.restore();
      if (restored === true) throw error;
      throw new RestoreFailed(error, this.keyId, restored);
    }
    const restored = await this.restore();
    if (restored !== true) throw new RestoreFailed(undefined, this.keyId, restored);
    return result;
  }

  // true when the key is enabled (again), else why enabling it failed.
  private async restore(): Promise<true | string> {
    if (!this.disabled) return true;
    try {
      await this.enable();
      return true;
    } catch (error) {
      return (error as Error)?.message ?? String(error);
    }
  }
}

/** RestoreFailed: a disabled key could not be enabled again; the message says so after the steps' own failure. */
export class RestoreFailed extends Error {
  constructor(cause: unknown, keyId: string, why: string) {
    const first = cause === undefined ? '' : `${(cause as Error)?.message ?? String(cause)}; then `;
    super(`${first}enabling key_id ${keyId} again failed (enable it by hand): ${why}`, { cause });
    this.name = 'RestoreFailed';
  }
}

/**
 * refusalsAfterRestart checks what a restarted apiserver asked of the plugin while the key was disabled, by the
 * plugin's health style: with `not-ok-keep-key-id` it asks for a DEK seed (Encrypt) and is refused; with `fail-rpc`
 * its Status fails, so it never asks for a seed (config.go only rotates after a Status answer) and the refusals are
 * the Status calls themselves. Whatever code the plugin refuses with (the fake KMS: FAILED_PRECONDITION).
 */
export async function refusalsAfterRestart(
  lab: Lab,
  afterSeq: number,
  keyId: string,
  style: SeenHealthStyle,
): Promise<Evidence> {
  const calls = await lab.kms.audit({ afterSeq });
  const refused = calls.filter((r) => r.code !== 'OK');
  const byMethod = (m: string) => refused.filter((r) => r.method === m).length;
  const ev: Evidence = {
    refused: refused.length,
    refusedByMethod: { Status: byMethod('Status'), Encrypt: byMethod('Encrypt'), Decrypt: byMethod('Decrypt') },
    refusedCodes: [...new Set(refused.map((r) => r.code))],
  };
  if (style === 'fail-rpc') {
    const encrypts = calls.filter((r) => r.method === 'Encrypt').length;
    ev.encryptCalls = encrypts;
    if (byMethod('Status') === 0) throw new ScenarioFailure('no refused Status call in the audit trail');
    if (encrypts > 0)
      throw new ScenarioFailure(
        `${encrypts} Encrypt calls after the restart: an apiserver whose Status fails should never ask for a DEK seed`,
      );
    return ev;
  }
  const keyRefusals = refused.filter((r) => r.method !== 'Status');
  if (keyRefusals.length === 0) throw new ScenarioFailure('no refused Encrypt or Decrypt in the audit trail');
  if (keyRefusals.some((r) => r.keyId !== keyId))
    throw new ScenarioFailure(`refusals name other key_ids than ${keyId}`);
  return ev;
}

/**
 * disableInStyle is how the #138950 scenarios begin: the plugin set to answer in `style`, the key disabled, health
 * waited red (`turnsRed`), then the style the plugin really showed judged from its Status calls. It returns when the
 * last healthy Status was and when the style was judged (epoch ms), for the write-key expiry that follows.
 */
export async function disableInStyle(
  lab: Lab,
  key: DisabledKey,
  style: HealthStyle,
  ev: Evidence,
  turnsRed: () => Promise<unknown>,
): Promise<{ lastGood: number; judgedAt: number }> {
  await lab.kms.setDisabledKeyStatus(style);
  const mark = await auditMark(lab);
  await key.disable();
  ev.keyId = key.keyId;
  await turnsRed();
  const seen = await healthStyleSeen(lab, mark, key.keyId);
  ev.healthStyle = seen.style;
  ev.statusSaid = seen.said;
  if (seen.style !== style) {
    throw new ScenarioFailure(
      `the plugin's Status once the key was disabled shows style ${seen.style} (${seen.said ?? 'no answer'}), not ${style}: ${STYLE_MEANS[seen.style]}`,
    );
  }
  const last = await lastHealthyStatus(lab);
  ev.lastHealthyStatus = new Date(last).toISOString();
  return { lastGood: last, judgedAt: lab.clock.now() };
}
