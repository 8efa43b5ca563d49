import { randomBytes, randomUUID } from 'node:crypto';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { KmsCallError } from '../fake-kms/index.js';
import { printable } from '../harness/common/printable.js';
import { annotationsProblem, encryptedDEKSourceProblem, keyIdProblem } from '../sim/index.js';
import { codeOf, currentKeyId, outcome, said, SEED_BYTES, uid, unwrap, wrap } from './calls.js';
import { fail, notRun, pass, type Check, type CheckContext } from './check.js';
import { SOURCES } from './sources.js';

/** The apiserver's per-call timeout (EncryptionConfiguration kms.timeout default). */
export const APISERVER_TIMEOUT_MS = 3_000;

const show = (text: string) => `"${printable(text, 120)}"`;

/** quantile of a non-empty list: the value below which the fraction `q` of the samples lie (q = 0.5: the median). */
export function quantile(xs: number[], q: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  return sorted[lo]! + (sorted[Math.ceil(at)]! - sorted[lo]!) * (at - lo);
}

const ms = (x: number) => Math.round(x * 10) / 10;

// A flipped bit at the start, the middle and the end of a ciphertext.
const flips = (c: Buffer) =>
  [0, Math.floor(c.length / 2), c.length - 1].map((at) => {
    const t = Buffer.from(c);
    t[at]! ^= 0x01;
    return { at, ciphertext: t };
  });

/** The protocol checks: on the plugin's socket alone, no apiserver, no hooks. In this order. */
export const PROTOCOL_CHECKS: Check[] = [
  {
    id: 'status-answers',
    title: 'Status answers within the apiserver timeout',
    level: 'required',
    source: SOURCES.statusFails,
    async run(ctx) {
      const r = await outcome(ctx.plugin.status());
      if (!r.ok)
        return fail(
          `Status failed: ${said(r.error)} — the apiserver reports the provider unhealthy and stops extending its write key: writes fail 3 min later`,
        );
      const { version, healthz, keyId } = r.value;
      return pass({ version: printable(version, 40), healthz: printable(healthz, 200), keyId: printable(keyId, 200) });
    },
  },
  {
    id: 'status-version-accepted',
    title: 'Status version is one the apiserver accepts (v2 or v2beta1)',
    level: 'required',
    source: SOURCES.statusProbe,
    after: ['status-answers'],
    async run(ctx) {
      const { version } = await ctx.plugin.status();
      return version === 'v2' || version === 'v2beta1'
        ? pass({ version })
        : fail(
            `version ${show(version)}: the apiserver answers "expected KMSv2 API version v2, got ${printable(version, 40)}" and reports the provider unhealthy`,
          );
    },
  },
  {
    id: 'status-version-v2',
    title: 'Status version is "v2", the GA name',
    level: 'recommended',
    source: SOURCES.versionV2,
    after: ['status-version-accepted'],
    async run(ctx) {
      const { version } = await ctx.plugin.status();
      return version === 'v2'
        ? pass()
        : fail(`version ${show(version)}: v2beta1 is the pre-GA (1.27–1.28) name; GA plugins say v2`);
    },
  },
  {
    id: 'status-healthz-ok',
    title: 'a healthy plugin says healthz "ok"',
    level: 'required',
    source: SOURCES.statusProbe,
    after: ['status-answers'],
    async run(ctx) {
      const { healthz } = await ctx.plugin.status();
      return healthz === 'ok'
        ? pass()
        : fail(`healthz ${show(healthz)}: the apiserver reports the provider unhealthy for anything but exactly "ok"`);
    },
  },
  {
    id: 'status-key-id',
    title: 'Status key_id is non-empty and at most 1 KiB',
    level: 'required',
    source: SOURCES.envelope,
    after: ['status-answers'],
    async run(ctx) {
      const keyId = await currentKeyId(ctx);
      const problem = keyIdProblem(keyId);
      return problem
        ? fail(
            `${problem}: the apiserver reports the provider unhealthy, and can neither rotate to it nor extend its write key`,
          )
        : pass({ keyId: printable(keyId, 200) });
    },
  },
  {
    id: 'status-key-id-stable',
    title: 'Status key_id does not change without a rotation',
    level: 'required',
    source: SOURCES.keyIdStable,
    after: ['status-key-id'],
    async run(ctx) {
      const ids = new Set<string>();
      for (let i = 0; i < 5; i++) {
        ids.add((await ctx.plugin.status()).keyId);
        await ctx.clock.sleep(200);
      }
      return ids.size === 1
        ? pass()
        : fail(
            `Status reported ${ids.size} key_ids in a second with no rotation: every change makes each apiserver wrap a new DEK seed and mark every object stale`,
          );
    },
  },
  {
    id: 'roundtrip-seed',
    title: 'a 32-byte DEK seed comes back from Decrypt byte for byte',
    level: 'required',
    source: SOURCES.decryptInverse,
    async run(ctx) {
      const w = await outcome(wrap(ctx));
      if (!w.ok) return fail(`Encrypt of a 32-byte seed failed: ${said(w.error)} — the apiserver cannot write`);
      const back = await outcome(unwrap(ctx, w.value));
      if (!back.ok) return fail(`Decrypt of what Encrypt returned failed: ${said(back.error)}`);
      return back.value.plaintext.equals(w.value.plaintext)
        ? pass()
        : fail('Decrypt returned other bytes than were encrypted: the apiserver would open data with a wrong DEK');
    },
  },
  {
    id: 'answers-valid-utf8',
    title: 'the text fields of Status and Encrypt answers are valid UTF-8',
    level: 'required',
    source: SOURCES.utf8,
    after: ['status-answers', 'roundtrip-seed'],
    async run(ctx) {
      const before = ctx.plugin.invalidUtf8.length;
      await ctx.plugin.status();
      await wrap(ctx);
      const bad = ctx.plugin.invalidUtf8.slice(before);
      if (!bad.length) return pass();
      const what = bad.map((b) => `${b.method} (${b.fields.join(', ')})`).join(' and ');
      return fail(
        `invalid UTF-8 in ${what}: kube-apiserver's Go protobuf refuses the whole answer ("string field contains invalid UTF-8") and sees the call fail with INTERNAL, so ${bad.some((b) => b.method === 'Status') ? 'the provider is unhealthy and its write key is never extended' : 'no DEK seed is ever wrapped and writes fail'}`,
        { invalid: bad },
      );
    },
  },
  {
    id: 'encrypt-key-id-matches-status',
    title: 'Encrypt returns the key_id Status reports',
    level: 'required',
    source: SOURCES.encryptKeyId,
    after: ['status-key-id-stable', 'roundtrip-seed'],
    async run(ctx) {
      const status = await currentKeyId(ctx);
      const { keyId } = await wrap(ctx);
      return keyId === status
        ? pass({ keyId: printable(keyId, 200) })
        : fail(
            `Encrypt said key_id ${show(keyId)} while Status says ${show(status)}: the apiserver throws such a DEK seed away and reports the provider unhealthy`,
          );
    },
  },
  {
    id: 'encrypt-ciphertext-size',
    title: 'the ciphertext of a DEK seed is non-empty and at most 1 KiB',
    level: 'required',
    source: SOURCES.envelope,
    after: ['roundtrip-seed'],
    async run(ctx) {
      const { ciphertext } = await wrap(ctx);
      const problem = encryptedDEKSourceProblem(ciphertext);
      return problem ? fail(`${problem}: the apiserver refuses the DEK seed`) : pass({ bytes: ciphertext.length });
    },
  },
  {
    id: 'encrypt-annotations',
    title: 'annotation keys are fully qualified DNS names, at most 32 KiB in all',
    level: 'required',
    source: SOURCES.annotations,
    after: ['roundtrip-seed'],
    async run(ctx) {
      const { annotations } = await wrap(ctx);
      const problem = annotationsProblem(annotations);
      return problem
        ? fail(`${problem}: the apiserver refuses the DEK seed`)
        : pass({ keys: Object.keys(annotations).map((k) => printable(k, 80)) });
    },
  },
  {
    id: 'encrypt-randomized',
    title: 'the same plaintext twice gives two ciphertexts',
    level: 'recommended',
    source: SOURCES.randomized,
    after: ['roundtrip-seed'],
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
    source: SOURCES.sizes,
    after: ['roundtrip-seed'],
    async run(ctx) {
      for (const size of [1, 4096]) {
        const w = await outcome(wrap(ctx, randomBytes(size)));
        if (!w.ok) return fail(`a ${size}-byte plaintext was refused: ${said(w.error)}`);
        const back = await outcome(unwrap(ctx, w.value));
        if (!back.ok || !back.value.plaintext.equals(w.value.plaintext))
          return fail(`a ${size}-byte plaintext did not come back`);
      }
      const empty = await outcome(wrap(ctx, Buffer.alloc(0)));
      if (!empty.ok) return pass({ empty: `refused: ${codeOf(empty.error)}` });
      const back = await outcome(unwrap(ctx, empty.value));
      return back.ok && back.value.plaintext.length === 0
        ? pass({ empty: 'round-trips' })
        : fail('an empty plaintext was accepted but did not come back empty');
    },
  },
  {
    id: 'decrypt-tampered-never-wrong',
    title: 'a tampered ciphertext never decrypts to other bytes',
    level: 'required',
    source: SOURCES.integrity,
    after: ['roundtrip-seed'],
    async run(ctx) {
      const w = await wrap(ctx);
      const seen: string[] = [];
      for (const { at, ciphertext } of flips(w.ciphertext)) {
        const r = await outcome(ctx.plugin.decrypt({ ...w, ciphertext, uid: uid() }));
        if (r.ok && !r.value.plaintext.equals(w.plaintext)) {
          return fail(
            `flipping a bit of byte ${at} of the ciphertext decrypted to other bytes: the apiserver would use a wrong DEK and lose the data`,
          );
        }
        seen.push(r.ok ? 'accepted, same bytes' : codeOf(r.error));
      }
      return pass({ answers: seen });
    },
  },
  {
    id: 'decrypt-tampered-refused',
    title: 'a tampered ciphertext is refused',
    level: 'recommended',
    source: SOURCES.integrityRefused,
    after: ['decrypt-tampered-never-wrong'],
    async run(ctx) {
      const w = await wrap(ctx);
      for (const { at, ciphertext } of flips(w.ciphertext)) {
        const r = await outcome(ctx.plugin.decrypt({ ...w, ciphertext, uid: uid() }));
        if (r.ok) return fail(`flipping a bit of byte ${at} of the ciphertext was not noticed`);
      }
      return pass();
    },
  },
  {
    id: 'decrypt-unknown-key-id',
    title: 'Decrypt refuses a key_id the plugin never issued',
    level: 'required',
    source: SOURCES.decryptKeyId,
    after: ['roundtrip-seed'],
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
    source: SOURCES.grpc,
    after: ['roundtrip-seed'],
    async run(ctx) {
      const w = await wrap(ctx);
      // Something every careful plugin refuses: random bytes as a ciphertext, or else a key_id it never issued.
      const garbage = await outcome(
        ctx.plugin.decrypt({ ...w, ciphertext: randomBytes(w.ciphertext.length), uid: uid() }),
      );
      const r = garbage.ok
        ? await outcome(ctx.plugin.decrypt({ ...w, keyId: `kmslab-conformance-unknown-${randomUUID()}`, uid: uid() }))
        : garbage;
      if (r.ok)
        return notRun(
          'decrypt-unknown-key-id',
          'not run: the plugin refused nothing (neither a random ciphertext nor an unknown key_id), so there is no refusal to look at',
        );
      const e = r.error as KmsCallError;
      const code = codeOf(e);
      const what = garbage.ok ? 'an unknown key_id' : 'a random ciphertext';
      if (!(e instanceof KmsCallError) || e.code === GrpcStatus.UNKNOWN || !e.message) {
        // A message that ends in whitespace arrives empty: HTTP/2 header values cannot end in whitespace.
        const message = e.message ? show(e.message) : 'no message (or one ending in whitespace, which HTTP/2 strips)';
        return fail(
          `${what} was answered ${code} with ${message}: users see only "rpc error: code = ${code} desc = …"`,
        );
      }
      return pass({ code, message: printable(e.message, 200) });
    },
  },
  {
    id: 'latency',
    title: "every Status, Encrypt and Decrypt answers inside the apiserver's 3 s timeout (30 calls each)",
    level: 'required',
    source: SOURCES.timeout,
    after: ['status-answers', 'roundtrip-seed'],
    async run(ctx) {
      const w = await wrap(ctx);
      const calls: Record<string, () => Promise<unknown>> = {
        Status: () => ctx.plugin.status(),
        Encrypt: () => wrap(ctx),
        Decrypt: () => unwrap(ctx, w),
      };
      const times: Record<string, number[]> = { Status: [], Encrypt: [], Decrypt: [] };
      for (let i = 1; i <= 30; i++) {
        for (const [method, call] of Object.entries(calls)) {
          const t = ctx.clock.now();
          const r = await outcome(call());
          const took = ctx.clock.now() - t;
          if (!r.ok && !(r.error instanceof KmsCallError && r.error.code === GrpcStatus.DEADLINE_EXCEEDED))
            throw r.error;
          if (!r.ok || took >= APISERVER_TIMEOUT_MS)
            return fail(
              `${method} call ${i} of 30 ${r.ok ? `took ${ms(took)} ms` : 'got no answer'} within the apiserver's 3 s timeout: there that call fails`,
              { slowCall: { method, call: i, ms: ms(took) } },
            );
          times[method]!.push(took);
        }
      }
      const stats = (xs: number[]) => ({
        median: ms(quantile(xs, 0.5)),
        p99: ms(quantile(xs, 0.99)),
        max: ms(Math.max(...xs)),
      });
      return pass(Object.fromEntries(Object.entries(times).map(([m, xs]) => [m, stats(xs)])));
    },
  },
  {
    id: 'latency-fast',
    title: 'Encrypt under 100 ms and Decrypt under 10 ms (median of 50 calls each)',
    level: 'recommended',
    source: SOURCES.latencyAim,
    after: ['roundtrip-seed'],
    async run(ctx) {
      const w = await wrap(ctx);
      const enc: number[] = [];
      const dec: number[] = [];
      for (let i = 0; i < 50; i++) {
        let t = ctx.clock.now();
        await wrap(ctx);
        enc.push(ctx.clock.now() - t);
        t = ctx.clock.now();
        await unwrap(ctx, w);
        dec.push(ctx.clock.now() - t);
      }
      const medianMs = { Encrypt: ms(quantile(enc, 0.5)), Decrypt: ms(quantile(dec, 0.5)) };
      const evidence = { medianMs, p99Ms: { Encrypt: ms(quantile(enc, 0.99)), Decrypt: ms(quantile(dec, 0.99)) } };
      return medianMs.Encrypt < 100 && medianMs.Decrypt < 10
        ? pass(evidence)
        : fail(
            `median Encrypt ${medianMs.Encrypt} ms (aim: < 100), Decrypt ${medianMs.Decrypt} ms (aim: < 10)`,
            evidence,
          );
    },
  },
  {
    id: 'concurrency',
    title: '256 Decrypts in flight all succeed (an apiserver restart decrypts many seeds at once)',
    level: 'required',
    source: SOURCES.decryptLoad,
    after: ['roundtrip-seed'],
    async run(ctx: CheckContext) {
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
