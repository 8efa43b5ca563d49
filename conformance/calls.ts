import { randomBytes, randomUUID } from 'node:crypto';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { KmsCallError } from '../fake-kms/index.js';
import type { EncryptResponse } from '../gen/kms/v2/service.js';
import { formatDuration } from '../harness/common/duration.js';
import { Interrupted, PluginDied, type CheckContext } from './check.js';

/** What the apiserver wraps: a 32-byte DEK seed. */
export const SEED_BYTES = 32;

export const uid = () => randomUUID();

/** codeOf names a call's failure by its gRPC code. */
export const codeOf = (e: unknown) =>
  e instanceof KmsCallError ? (GrpcStatus[e.code] ?? String(e.code)) : 'not a gRPC error';

/** said is a failure as the user would read it in the apiserver's log: code and message. */
export const said = (e: unknown) => `${codeOf(e)} ${(e as Error).message}`.trimEnd();

/** tenths rounds milliseconds to a tenth of one, for evidence. */
export const tenths = (ms: number) => Math.round(ms * 10) / 10;

/** A time for messages, to a tenth of a second: 30.2s, 1m0.5s, 3ms. */
export const took = (ms: number) => formatDuration(ms < 1000 ? Math.round(ms) : Math.round(ms / 100) * 100);

/**
 * outcome settles a call into its answer or its error — except that the plugin dying or the run being
 * interrupted ends the check at once: a dead plugin's silence is never taken for a refusal.
 */
export async function outcome<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await p };
  } catch (error) {
    if (error instanceof PluginDied || error instanceof Interrupted) throw error;
    return { ok: false, error };
  }
}

export async function wrap(ctx: CheckContext, plaintext: Buffer = randomBytes(SEED_BYTES)) {
  const r = await ctx.plugin.encrypt({ plaintext, uid: uid() });
  return { plaintext, ...r };
}

export const unwrap = (ctx: CheckContext, w: EncryptResponse) =>
  ctx.plugin.decrypt({ ciphertext: w.ciphertext, keyId: w.keyId, annotations: w.annotations, uid: uid() });

/** currentKeyId asks Status for the key_id and remembers it among those seen. */
export async function currentKeyId(ctx: CheckContext): Promise<string> {
  const { keyId } = await ctx.plugin.status();
  if (!ctx.seenKeyIds.includes(keyId)) ctx.seenKeyIds.push(keyId);
  return keyId;
}

/**
 * settle polls a condition every `pollMs` for up to `settleMs` (plugins that cache their key state may take a while
 * to show a hook) and returns how long it took to hold, or undefined if it never did. A condition that throws counts
 * as not yet, unless the plugin died or the run was interrupted.
 */
export async function settle(ctx: CheckContext, condition: () => Promise<boolean>): Promise<number | undefined> {
  const start = ctx.clock.now();
  for (;;) {
    if (ctx.signal?.aborted) throw new Interrupted();
    const held = await condition().catch((error: unknown) => {
      if (error instanceof PluginDied || error instanceof Interrupted) throw error;
      return false;
    });
    const elapsed = ctx.clock.now() - start;
    if (held) return tenths(elapsed);
    if (elapsed >= ctx.settleMs) return undefined;
    await ctx.clock.sleep(ctx.pollMs);
  }
}
