import { randomBytes, randomUUID } from 'node:crypto';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { KmsCallError } from '../fake-kms/index.js';
import type { EncryptResponse } from '../gen/kms/v2/service.js';
import type { KmsCapability } from '../harness/lab.js';
import type { UpstreamPlugin } from '../proxy/index.js';
import { annotationsProblem, encryptedDEKSourceProblem, keyIdProblem } from '../sim/index.js';

/**
 * A conformance check: one rule a KMS v2 plugin must (required) or should (recommended) follow, where the rule
 * comes from, and how to test it against the plugin's socket. Required: the apiserver enforces it, or data is lost or
 * exposed when it is broken. Recommended: practice the Kubernetes docs or gRPC ask for.
 */
export interface Check {
  id: string;
  title: string;
  level: 'required' | 'recommended';
  source: string;
  /** Capabilities the check needs (hooks); missing ones make it skipped, with the reason. */
  needs?: KmsCapability[];
  run(ctx: CheckContext): Promise<Verdict>;
}

/** What a check concluded: a failure says what was seen; evidence is recorded either way. */
export type Verdict =
  { ok: true; evidence?: Record<string, unknown> } | { ok: false; message: string; evidence?: Record<string, unknown> };

/** CheckContext is the plugin under test and the shared memory of a run (key_ids seen, a sample ciphertext). */
export interface CheckContext {
  /** A client on the plugin's own socket (no proxy, no faults), each call with the apiserver's 3 s timeout. */
  plugin: UpstreamPlugin;
  /** Run a key lifecycle hook (rotate, disable, enable); the caller checked it exists. */
  hook(name: 'rotate' | 'disable' | 'enable', keyId: string): Promise<void>;
  /** Restart the plugin (kill and start again, or --restart-cmd). */
  restart(): Promise<void>;
  /** Every key_id the plugin reported in this run, in order. */
  seenKeyIds: string[];
  /** How long the hook checks wait for the plugin to reflect a hook (some plugins cache their key state). */
  settleMs: number;
  /** The key_id the disable check disabled (the enable check enables it again). */
  disabledKeyId?: string;
}

const SRC = {
  status: 'k8s.io/apiserver pkg/server/options/encryptionconfig/config.go, isKMSv2ProviderHealthyAndMaybeRotateDEK',
  envelope:
    'k8s.io/apiserver pkg/storage/value/encrypt/envelope/kmsv2/envelope.go, ValidateKeyID / validateEncryptedDEKSource / validateAnnotations',
  rotate:
    'k8s.io/apiserver kmsv2/envelope.go GenerateTransformer: the Encrypt key_id must equal the Status key_id that triggered it',
  timeout:
    'k8s.io/apiserver EncryptionConfiguration kms.timeout (default 3s), applied to every Status, Encrypt and Decrypt',
  docsKeyId: 'kubernetes.io docs, tasks/administer-cluster/kms-provider: "Understanding key_id and Key Rotation"',
  docsPlugin:
    'kubernetes.io docs, tasks/administer-cluster/kms-provider: "Developing a KMS plugin gRPC server (KMS v2)"',
  proto: 'k8s.io/kms apis/v2/api.proto (uid: a unique identifier of the request, for audit and logging)',
  grpc: 'gRPC status codes (grpc/grpc doc/statuscodes.md): a failure carries a code that says what went wrong, and a message',
  integrity: 'AES-GCM and every AEAD: a modified ciphertext is refused, never opened to other bytes',
  randomized:
    'NIST SP 800-38D (GCM) and every IND-CPA scheme: a fresh nonce per encryption, so equal plaintexts do not show',
};

const SEED_BYTES = 32; // what the apiserver wraps: a DEK seed

const fail = (message: string, evidence?: Record<string, unknown>): Verdict => ({
  ok: false,
  message,
  ...(evidence ? { evidence } : {}),
});
const pass = (evidence?: Record<string, unknown>): Verdict => ({ ok: true, ...(evidence ? { evidence } : {}) });
const uid = () => randomUUID();
const codeOf = (e: unknown) =>
  e instanceof KmsCallError ? (GrpcStatus[e.code] ?? String(e.code)) : 'not a gRPC error';

async function outcome<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await p };
  } catch (error) {
    return { ok: false, error };
  }
}

async function wrap(ctx: CheckContext, plaintext: Buffer = randomBytes(SEED_BYTES)) {
  const r = await ctx.plugin.encrypt({ plaintext, uid: uid() });
  return { plaintext, ...r };
}

const unwrap = (ctx: CheckContext, w: EncryptResponse) =>
  ctx.plugin.decrypt({ ciphertext: w.ciphertext, keyId: w.keyId, annotations: w.annotations, uid: uid() });

async function currentKeyId(ctx: CheckContext): Promise<string> {
  const { keyId } = await ctx.plugin.status();
  if (!ctx.seenKeyIds.includes(keyId)) ctx.seenKeyIds.push(keyId);
  return keyId;
}

// Poll a condition for up to settleMs: plugins that cache their key state may take a while to show a hook.
async function settles(ctx: CheckContext, condition: () => Promise<boolean>): Promise<number | undefined> {
  const t = Date.now();
  for (;;) {
    if (await condition().catch(() => false)) return Date.now() - t;
    if (Date.now() - t > ctx.settleMs) return undefined;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function percentile(ms: number[], p: number): number {
  const sorted = [...ms].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** The protocol checks: on the plugin's socket alone, no apiserver, no hooks. */
export const PROTOCOL_CHECKS: Check[] = [
  {
    id: 'status-answers',
    title: 'Status answers within the apiserver timeout',
    level: 'required',
    source: SRC.status,
    async run(ctx) {
      const r = await outcome(ctx.plugin.status());
      return r.ok ? pass({ status: r.value }) : fail(`Status failed: ${codeOf(r.error)} ${(r.error as Error).message}`);
    },
  },
  {
    id: 'status-version-accepted',
    title: 'Status version is one the apiserver accepts (v2 or v2beta1)',
    level: 'required',
    source: SRC.status,
    async run(ctx) {
      const { version } = await ctx.plugin.status();
      return version === 'v2' || version === 'v2beta1'
        ? pass({ version })
        : fail(`version "${version}": the apiserver answers "expected KMSv2 API version v2, got ${version}"`);
    },
  },
  {
    id: 'status-version-v2',
    title: 'Status version is "v2", the GA name',
    level: 'recommended',
    source: SRC.status,
    async run(ctx) {
      const { version } = await ctx.plugin.status();
      return version === 'v2'
        ? pass()
        : fail(`version "${version}": v2beta1 is the pre-GA (1.27–1.28) name; GA plugins say v2`);
    },
  },
  {
    id: 'status-healthz-ok',
    title: 'a healthy plugin says healthz "ok"',
    level: 'required',
    source: SRC.status,
    async run(ctx) {
      const { healthz } = await ctx.plugin.status();
      return healthz === 'ok'
        ? pass()
        : fail(`healthz "${healthz}": the apiserver reports the provider unhealthy for anything but exactly "ok"`);
    },
  },
  {
    id: 'status-key-id',
    title: 'Status key_id is non-empty and at most 1 KiB',
    level: 'required',
    source: SRC.envelope,
    async run(ctx) {
      const keyId = await currentKeyId(ctx);
      const problem = keyIdProblem(keyId);
      return problem ? fail(problem) : pass({ keyId });
    },
  },
  {
    id: 'status-key-id-stable',
    title: 'Status key_id does not change without a rotation',
    level: 'recommended',
    source: SRC.docsKeyId,
    async run(ctx) {
      const ids = new Set<string>();
      for (let i = 0; i < 5; i++) {
        ids.add((await ctx.plugin.status()).keyId);
        await new Promise((r) => setTimeout(r, 200));
      }
      return ids.size === 1
        ? pass()
        : fail(
            `Status reported ${ids.size} key_ids in a second with no rotation: every change makes each apiserver wrap a new DEK seed and mark every object stale`,
          );
    },
  },
  {
    id: 'encrypt-key-id-matches-status',
    title: 'Encrypt returns the key_id Status reports',
    level: 'required',
    source: SRC.rotate,
    async run(ctx) {
      const status = await currentKeyId(ctx);
      const { keyId } = await wrap(ctx);
      return keyId === status
        ? pass({ keyId })
        : fail(
            `Encrypt said key_id "${keyId}" while Status says "${status}": the apiserver discards such a DEK seed and keeps failing its health check`,
          );
    },
  },
  {
    id: 'encrypt-ciphertext-size',
    title: 'the ciphertext of a DEK seed is non-empty and at most 1 KiB',
    level: 'required',
    source: SRC.envelope,
    async run(ctx) {
      const { ciphertext } = await wrap(ctx);
      const problem = encryptedDEKSourceProblem(ciphertext);
      return problem ? fail(problem) : pass({ bytes: ciphertext.length });
    },
  },
  {
    id: 'encrypt-annotations',
    title: 'annotation keys are fully qualified DNS names, at most 32 KiB in all',
    level: 'required',
    source: SRC.envelope,
    async run(ctx) {
      const { annotations } = await wrap(ctx);
      const problem = annotationsProblem(annotations);
      return problem ? fail(problem) : pass({ keys: Object.keys(annotations) });
    },
  },
  {
    id: 'roundtrip-seed',
    title: 'a 32-byte DEK seed comes back from Decrypt byte for byte',
    level: 'required',
    source: SRC.docsPlugin,
    async run(ctx) {
      const w = await wrap(ctx);
      const back = await outcome(unwrap(ctx, w));
      if (!back.ok)
        return fail(`Decrypt of what Encrypt returned failed: ${codeOf(back.error)} ${(back.error as Error).message}`);
      return back.value.plaintext.equals(w.plaintext)
        ? pass()
        : fail('Decrypt returned other bytes than were encrypted');
    },
  },
  {
    id: 'encrypt-randomized',
    title: 'the same plaintext twice gives two ciphertexts',
    level: 'recommended',
    source: SRC.randomized,
    async run(ctx) {
      const p = randomBytes(SEED_BYTES);
      const [a, b] = [await wrap(ctx, p), await wrap(ctx, p)];
      return a.ciphertext.equals(b.ciphertext)
        ? fail('Encrypt is deterministic: equal seeds are visible as equal ciphertexts')
        : pass();
    },
  },
  {
    id: 'roundtrip-sizes',
    title: '1-byte and 4 KiB plaintexts round-trip; an empty one is refused or round-trips',
    level: 'recommended',
    source: SRC.docsPlugin,
    async run(ctx) {
      for (const size of [1, 4096]) {
        const w = await outcome(wrap(ctx, randomBytes(size)));
        if (!w.ok)
          return fail(`a ${size}-byte plaintext was refused: ${codeOf(w.error)} ${(w.error as Error).message}`);
        const back = await outcome(unwrap(ctx, w.value));
        if (!back.ok || !back.value.plaintext.equals(w.value.plaintext))
          return fail(`a ${size}-byte plaintext did not come back`);
      }
      const empty = await outcome(wrap(ctx, Buffer.alloc(0)));
      if (empty.ok) {
        const back = await outcome(unwrap(ctx, empty.value));
        return back.ok && back.value.plaintext.length === 0
          ? pass({ empty: 'round-trips' })
          : fail('an empty plaintext was accepted but did not come back empty');
      }
      const code = codeOf(empty.error);
      return code === 'INVALID_ARGUMENT'
        ? pass({ empty: 'refused' })
        : fail(`an empty plaintext was answered ${code}, not INVALID_ARGUMENT`);
    },
  },
  {
    id: 'decrypt-tampered-never-wrong',
    title: 'a tampered ciphertext never decrypts to other bytes',
    level: 'required',
    source: SRC.integrity,
    async run(ctx) {
      const w = await wrap(ctx);
      const seen: string[] = [];
      for (const at of [0, Math.floor(w.ciphertext.length / 2), w.ciphertext.length - 1]) {
        const t = Buffer.from(w.ciphertext);
        t[at]! ^= 0x01;
        const r = await outcome(ctx.plugin.decrypt({ ...w, ciphertext: t, uid: uid() }));
        if (r.ok && !r.value.plaintext.equals(w.plaintext)) {
          return fail(
            `flipping byte ${at} of the ciphertext decrypted to other bytes: the apiserver would use a wrong DEK`,
          );
        }
        seen.push(r.ok ? 'accepted' : codeOf(r.error));
      }
      return pass({ answers: seen });
    },
  },
  {
    id: 'decrypt-tampered-refused',
    title: 'a tampered ciphertext is refused',
    level: 'recommended',
    source: SRC.integrity,
    async run(ctx) {
      const w = await wrap(ctx);
      for (const at of [0, Math.floor(w.ciphertext.length / 2), w.ciphertext.length - 1]) {
        const t = Buffer.from(w.ciphertext);
        t[at]! ^= 0x01;
        const r = await outcome(ctx.plugin.decrypt({ ...w, ciphertext: t, uid: uid() }));
        if (r.ok) return fail(`flipping byte ${at} of the ciphertext was not noticed`);
      }
      return pass();
    },
  },
  {
    id: 'decrypt-unknown-key-id',
    title: 'Decrypt refuses a key_id the plugin never issued',
    level: 'recommended',
    source: SRC.docsKeyId,
    async run(ctx) {
      const w = await wrap(ctx);
      const r = await outcome(
        ctx.plugin.decrypt({ ...w, keyId: `kmslab-conformance-unknown-${randomUUID()}`, uid: uid() }),
      );
      return r.ok
        ? fail('Decrypt ignored the key_id: it opened the ciphertext under a key_id it never issued')
        : pass({ code: codeOf(r.error) });
    },
  },
  {
    id: 'errors-have-codes',
    title: 'a refused call says why: a gRPC code other than UNKNOWN, and a message',
    level: 'recommended',
    source: SRC.grpc,
    async run(ctx) {
      const w = await wrap(ctx);
      const r = await outcome(ctx.plugin.decrypt({ ...w, ciphertext: randomBytes(w.ciphertext.length), uid: uid() }));
      if (r.ok) return fail('random bytes were accepted as a ciphertext');
      const e = r.error as KmsCallError;
      const code = codeOf(e);
      if (code === 'UNKNOWN' || !e.message) {
        // A message that ends in whitespace arrives empty: HTTP/2 header values cannot end in whitespace.
        const said = e.message ? `"${e.message}"` : 'no message (or one ending in whitespace, which HTTP/2 strips)';
        return fail(
          `a garbage ciphertext was answered ${code} with ${said}: users see only "rpc error: code = ${code} desc = …"`,
        );
      }
      return pass({ code, message: e.message.slice(0, 200) });
    },
  },
  {
    id: 'uid-required',
    title: 'Encrypt refuses an empty uid',
    level: 'recommended',
    source: SRC.proto,
    async run(ctx) {
      const r = await outcome(ctx.plugin.encrypt({ plaintext: randomBytes(SEED_BYTES), uid: '' }));
      return r.ok
        ? fail(
            "an Encrypt with no uid was served: calls cannot be told apart in the plugin's logs (the apiserver always sends one)",
          )
        : pass({ code: codeOf(r.error) });
    },
  },
  {
    id: 'latency',
    title: 'Status, Encrypt and Decrypt answer well inside the 3 s timeout (p99 < 1 s)',
    level: 'required',
    source: SRC.timeout,
    async run(ctx) {
      const w = await wrap(ctx);
      const times: Record<string, number[]> = { Status: [], Encrypt: [], Decrypt: [] };
      let slowCalls = 0;
      // 30 calls each: a p99 of 1 s or more means at least one slow call per method; stop once that is certain.
      for (let i = 0; i < 30 && slowCalls < 3; i++) {
        for (const [m, call] of [
          ['Status', () => ctx.plugin.status()],
          ['Encrypt', () => wrap(ctx)],
          ['Decrypt', () => unwrap(ctx, w)],
        ] as const) {
          const t = performance.now();
          await call();
          const ms = performance.now() - t;
          times[m]!.push(ms);
          if (ms >= 1000) slowCalls++;
        }
      }
      const p99 = Object.fromEntries(Object.entries(times).map(([m, ms]) => [m, Math.round(percentile(ms, 99))]));
      const slow = Object.entries(p99).filter(([, ms]) => ms >= 1000);
      return slow.length
        ? fail(`p99 latency ${JSON.stringify(p99)} ms: too close to the apiserver's 3 s timeout`, { p99 })
        : pass({ p99Ms: p99 });
    },
  },
  {
    id: 'latency-fast',
    title: 'Encrypt under 100 ms and Decrypt under 10 ms (median)',
    level: 'recommended',
    source: SRC.docsPlugin,
    async run(ctx) {
      const w = await wrap(ctx);
      const enc: number[] = [];
      const dec: number[] = [];
      for (let i = 0; i < 50; i++) {
        let t = performance.now();
        await wrap(ctx);
        enc.push(performance.now() - t);
        t = performance.now();
        await unwrap(ctx, w);
        dec.push(performance.now() - t);
      }
      const p99 = { Encrypt: Math.round(percentile(enc, 99)), Decrypt: Math.round(percentile(dec, 99) * 10) / 10 };
      return p99.Encrypt < 100 && p99.Decrypt < 10
        ? pass({ p99Ms: p99 })
        : fail(`p99 ${JSON.stringify(p99)} ms`, { p99Ms: p99 });
    },
  },
  {
    id: 'concurrency',
    title: '256 Decrypts in flight all succeed (an apiserver restart decrypts many seeds at once)',
    level: 'required',
    source: SRC.docsPlugin,
    async run(ctx) {
      const samples = await Promise.all(Array.from({ length: 8 }, () => wrap(ctx)));
      const results = await Promise.all(
        Array.from({ length: 256 }, (_, i) => {
          const w = samples[i % samples.length]!;
          return outcome(unwrap(ctx, w)).then((r) =>
            r.ok && r.value.plaintext.equals(w.plaintext) ? 'OK' : r.ok ? 'WRONG' : codeOf(r.error),
          );
        }),
      );
      const bad = results.filter((r) => r !== 'OK');
      return bad.length
        ? fail(`${bad.length} of 256 concurrent Decrypts failed: ${[...new Set(bad)].join(', ')}`)
        : pass();
    },
  },
];

/** The key lifecycle checks: through the user's hooks, in this order (each leaves the plugin as the next needs it). */
export const HOOK_CHECKS: Check[] = [
  {
    id: 'rotate-new-key-id',
    title: 'a rotation gives a key_id never seen before, in Status and Encrypt',
    level: 'required',
    source: SRC.docsKeyId,
    needs: ['rotate'],
    async run(ctx) {
      const chain: string[] = [await currentKeyId(ctx)];
      for (let i = 0; i < 2; i++) {
        await ctx.hook('rotate', chain.at(-1)!);
        const took = await settles(ctx, async () => (await ctx.plugin.status()).keyId !== chain.at(-1));
        if (took === undefined)
          return fail(`Status still reports key_id ${chain.at(-1)} ${ctx.settleMs / 1000} s after the rotate hook`);
        const next = (await ctx.plugin.status()).keyId;
        if (ctx.seenKeyIds.includes(next))
          return fail(`the rotation went back to key_id ${next}, seen before: key_ids must never be reused`, {
            chain: [...chain, next],
          });
        ctx.seenKeyIds.push(next);
        chain.push(next);
        const { keyId } = await wrap(ctx);
        if (keyId !== next) return fail(`after the rotation Status says ${next} but Encrypt says ${keyId}`);
      }
      return pass({ chain });
    },
  },
  {
    id: 'rotate-old-data-decrypts',
    title: 'after a rotation, what the old key encrypted still decrypts',
    level: 'required',
    source: SRC.docsKeyId,
    needs: ['rotate'],
    async run(ctx) {
      const before = await wrap(ctx);
      await ctx.hook('rotate', before.keyId);
      await settles(ctx, async () => (await ctx.plugin.status()).keyId !== before.keyId);
      const r = await outcome(unwrap(ctx, before));
      if (!r.ok)
        return fail(
          `a DEK seed wrapped before the rotation no longer decrypts: ${codeOf(r.error)} ${(r.error as Error).message} — every Secret on the old key would be lost until migrated`,
        );
      return r.value.plaintext.equals(before.plaintext)
        ? pass()
        : fail('the old ciphertext decrypted to other bytes after the rotation');
    },
  },
  {
    id: 'disable-refuses',
    title: 'a disabled key refuses Decrypt and Encrypt',
    level: 'required',
    source: SRC.docsPlugin,
    needs: ['disable', 'enable'],
    async run(ctx) {
      const w = await wrap(ctx);
      ctx.disabledKeyId = w.keyId;
      await ctx.hook('disable', w.keyId);
      const took = await settles(ctx, async () => {
        const d = await outcome(unwrap(ctx, w));
        const e = await outcome(wrap(ctx));
        return !d.ok && !e.ok;
      });
      const d = await outcome(unwrap(ctx, w));
      const e = await outcome(wrap(ctx));
      if (took === undefined) {
        return fail(
          `${ctx.settleMs / 1000} s after the disable hook the key still serves: Decrypt ${d.ok ? 'OK' : codeOf(d.error)}, Encrypt ${e.ok ? 'OK' : codeOf(e.error)}`,
        );
      }
      return pass({ afterMs: took, decrypt: d.ok ? 'OK' : codeOf(d.error), encrypt: e.ok ? 'OK' : codeOf(e.error) });
    },
  },
  {
    id: 'disable-status-not-ok',
    title: 'Status stops saying "ok" while the key it reports cannot encrypt',
    level: 'recommended',
    source: SRC.status,
    needs: ['disable', 'enable'],
    async run(ctx) {
      // Runs right after disable-refuses: the key is disabled now.
      const t = Date.now();
      const took = await settles(ctx, async () => {
        const s = await outcome(ctx.plugin.status());
        return !s.ok || s.value.healthz !== 'ok';
      });
      if (took === undefined)
        return fail(
          `Status kept saying "ok" for ${Math.round((Date.now() - t) / 1000)} s with a disabled key: the apiserver's health check stays green and its write key is extended`,
        );
      const s = await outcome(ctx.plugin.status());
      return pass({ afterMs: took, status: s.ok ? `healthz "${s.value.healthz}"` : `gRPC ${codeOf(s.error)}` });
    },
  },
  {
    id: 'enable-restores',
    title: 're-enabling the key restores Encrypt, Decrypt and a healthy Status',
    level: 'required',
    source: SRC.docsPlugin,
    needs: ['disable', 'enable'],
    async run(ctx) {
      const keyId = ctx.disabledKeyId ?? (await ctx.plugin.status()).keyId;
      await ctx.hook('enable', keyId);
      const took = await settles(ctx, async () => {
        const s = await ctx.plugin.status();
        const w = await wrap(ctx);
        return s.healthz === 'ok' && (await unwrap(ctx, w)).plaintext.equals(w.plaintext);
      });
      return took === undefined
        ? fail(`${ctx.settleMs / 1000} s after the enable hook the key still does not serve`)
        : pass({ afterMs: took });
    },
  },
  {
    id: 'restart-keeps-data',
    title: 'what was encrypted before a plugin restart decrypts after it',
    level: 'required',
    source: SRC.docsPlugin,
    needs: ['restart'],
    async run(ctx) {
      const w = await wrap(ctx);
      await ctx.restart();
      const r = await outcome(unwrap(ctx, w));
      if (!r.ok)
        return fail(
          `after a restart the plugin cannot decrypt what it encrypted before: ${codeOf(r.error)} ${(r.error as Error).message} — every Secret would be lost`,
        );
      return r.value.plaintext.equals(w.plaintext)
        ? pass()
        : fail('after a restart the old ciphertext decrypted to other bytes');
    },
  },
];
