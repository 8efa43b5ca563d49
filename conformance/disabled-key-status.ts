import type { StatusResponse } from '../gen/kms/v2/service.js';
import { printable } from '../harness/common/printable.js';
import { said } from './calls.js';

/**
 * How a plugin's Status answers once its key is disabled, seen as kube-apiserver sees it (an answer with invalid
 * UTF-8 is a failed call there), and what each does to the cluster. The apiserver extends its write key on every
 * Status whose key_id is valid and unchanged, whatever healthz says (config.go rotateDEKOnKeyIDChange;
 * kubernetes#138950): only a failed Status, or another key_id, lets writes stop.
 */
export type DisabledKeyStatusStyle = 'fails' | 'not-ok' | 'other-key-id' | 'ok';

export const WHAT_IT_DOES: Record<DisabledKeyStatusStyle, string> = {
  fails:
    '/healthz/kms-providers goes red, and the apiserver stops extending its write key: writes fail 3 min after the last good Status (reads of cached DEKs go on); an apiserver restarted meanwhile never asks for a DEK seed and serves none of the objects on that provider until the key is back (measured: disabled-key-writes-stop)',
  'not-ok':
    '/healthz/kms-providers goes red, but the apiserver extends its write key on every Status with a valid, unchanged key_id (kubernetes#138950): writes go on indefinitely with the key disabled, stored under that key_id; an apiserver restarted meanwhile asks for a DEK seed, is refused, and serves none of them, those written while disabled included, until the key is back (measured: disabled-key-writes-go-on)',
  'other-key-id':
    'the apiserver tries to rotate to that key_id (an Encrypt); if that fails it stops extending its write key and writes fail 3 min later',
  ok: '/healthz stays green and the apiserver keeps extending its write key: writes go on indefinitely with the key disabled, and nothing shows it',
};

/** A Status answer (or failure) and what it amounts to while `keyId` is disabled. */
export function styleOf(
  answer: { ok: true; value: StatusResponse; invalidUtf8: boolean } | { ok: false; error: unknown },
  keyId: string,
): { style: DisabledKeyStatusStyle; said: string } {
  if (!answer.ok) return { style: 'fails', said: `the Status call fails: ${printable(said(answer.error), 200)}` };
  const { healthz, keyId: now } = answer.value;
  if (answer.invalidUtf8)
    return {
      style: 'fails',
      said: 'Status answers with invalid UTF-8, which the apiserver cannot decode: to it the call fails',
    };
  if (now !== keyId) return { style: 'other-key-id', said: `Status names another key_id, "${printable(now, 120)}"` };
  if (healthz !== 'ok')
    return { style: 'not-ok', said: `Status answers healthz "${printable(healthz, 120)}" with the same key_id` };
  return { style: 'ok', said: 'Status keeps saying "ok" with the same key_id' };
}
