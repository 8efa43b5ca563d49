import { printable } from '../harness/common/printable.js';
import { formatDuration } from '../harness/common/duration.js';
// The fleet model itself, not the whole sim (its apiserver and envelope crypto): verify's start-up budget.
import { runFleet } from '../sim/fleet.js';
import { namesMatch, type CloudAudit, type KmsCall } from './cloud-audit.js';
import { decided, type Decision } from './decision.js';

/** What a healthy cluster's calls look like in the export. */
export interface CloudExpectation {
  /** The key the plugin should use: its id, ARN or alias as the export names it. */
  key?: string;
  /** The identity the plugin calls as: a user or role name, or an ARN. */
  identity?: string;
  /** kube-apiservers using the plugin (each polls Status on its own). Default 1. */
  apiservers?: number;
  /** Cloud calls the plugin makes per Status (ack-kms-plugin: 2, Encrypt and Decrypt). Default 1. */
  callsPerStatus?: number;
}

/** CloudFacts sums an export up against the expectation. */
export interface CloudFacts {
  format: string;
  clouds: string[];
  from?: string;
  to?: string;
  kmsCalls: number;
  /** Calls on the expected key (all KMS calls without --expect-key). */
  onKey: number;
  /** Of those, the successful ones by the expected identity (any identity without --expect-identity). */
  healthy: number;
  /** Refusals on the key: credentials, permission, key state — per error code. */
  denied: Record<string, number>;
  /** Other failures (throttling, internal errors, unavailability), per error code. */
  failed: Record<string, number>;
  /** Identities other than the expected one that called on the key (escaped). */
  otherCallers: string[];
  /** The fewest successful calls a healthy fleet makes over the export's span (sim/fleet: 1 Status a minute each). */
  expectedAtLeast: number;
  /** The longest stretch without a successful call by the plugin, ms (edges of the export included). */
  longestSilenceMs: number;
}

// Codes that mean the cloud refused the caller or the key, not that it was busy or broken.
const DENIED =
  /AccessDenied|Forbidden|NoPermission|NotAuthorized|Unauthorized|InvalidAccessKeyId|UnknownAccessKey|Signature|Token|Disabled|PendingDeletion|InvalidState|KeyState|NotFound|IncorrectKey|InvalidCiphertext/i;
/** A healthy apiserver's write key lives 3 minutes past its last good Status; longer silence means it has none. */
export const SILENCE_LIMIT_MS = 180_000;

export function cloudFacts(audit: CloudAudit, exp: CloudExpectation): CloudFacts {
  const calls = audit.calls;
  const onKey = exp.key ? calls.filter((c) => namesMatch(exp.key!, c.keys)) : calls;
  const byPlugin = (c: KmsCall) => !exp.identity || namesMatch(exp.identity, c.identities);
  const healthy = onKey.filter((c) => !c.errorCode && byPlugin(c));
  const denied: Record<string, number> = {};
  const failed: Record<string, number> = {};
  for (const c of onKey.filter((x) => x.errorCode)) {
    const bucket = DENIED.test(c.errorCode!) ? denied : failed;
    bucket[printable(c.errorCode!, 64)] = (bucket[printable(c.errorCode!, 64)] ?? 0) + 1;
  }
  const others = new Set<string>();
  if (exp.identity)
    for (const c of onKey) if (!byPlugin(c)) others.add(printable(c.identities[0] ?? '(unknown caller)', 128));
  const first = calls[0]?.time;
  const last = calls[calls.length - 1]?.time;
  const spanMs = first !== undefined && last !== undefined ? last - first : 0;
  let expectedAtLeast = 0;
  if (spanMs >= 60_000) {
    const fleet = runFleet(
      { apiservers: exp.apiservers ?? 1, objects: 0, durationMs: spanMs, healthCheckEveryMs: 0 },
      'v2',
    );
    expectedAtLeast = Math.floor(fleet.calls.Status * (exp.callsPerStatus ?? 1));
  }
  let longestSilenceMs = 0;
  let prev = first;
  for (const c of healthy) {
    longestSilenceMs = Math.max(longestSilenceMs, c.time - prev!);
    prev = c.time;
  }
  if (last !== undefined && prev !== undefined) longestSilenceMs = Math.max(longestSilenceMs, last - prev);
  return {
    format: audit.format,
    clouds: [...new Set(calls.map((c) => c.cloud))],
    ...(first !== undefined ? { from: new Date(first).toISOString(), to: new Date(last!).toISOString() } : {}),
    kmsCalls: calls.length,
    onKey: onKey.length,
    healthy: healthy.length,
    denied,
    failed,
    otherCallers: [...others].slice(0, 10),
    expectedAtLeast,
    longestSilenceMs,
  };
}

/** judgeCloud decides `unhealthy` and `denied-calls` from the export: over its span, not now. */
export function judgeCloud(f: CloudFacts, kind: 'unhealthy' | 'denied-calls'): Decision {
  const span = f.from ? `${f.from} – ${f.to}` : 'no KMS call at all';
  if (kind === 'denied-calls') {
    const n = Object.values(f.denied).reduce((a, b) => a + b, 0);
    if (f.kmsCalls === 0) return decided('cloud-audit', 'undecided', 'the export holds no KMS call');
    return n > 0
      ? decided(
          'cloud-audit',
          'fail',
          `${n} call(s) on the key refused in ${span}`,
          Object.entries(f.denied).map(([c, k]) => `${c}: ${k}`),
        )
      : decided('cloud-audit', 'pass', `${f.onKey} call(s) on the key in ${span}, none refused`);
  }
  if (f.healthy === 0)
    return decided(
      'cloud-audit',
      'fail',
      `no successful Encrypt or Decrypt by the plugin on the key in ${span}: the cluster is not using it`,
    );
  const problems: string[] = [];
  if (f.longestSilenceMs > SILENCE_LIMIT_MS)
    problems.push(
      `no successful call for ${formatDuration(f.longestSilenceMs)}: a healthy apiserver checks its KMS at least once a minute, and cannot write once ${formatDuration(SILENCE_LIMIT_MS)} pass without a good Status`,
    );
  if (f.healthy < f.expectedAtLeast / 2)
    problems.push(
      `${f.healthy} successful call(s) where a healthy fleet makes at least ${f.expectedAtLeast} (sim/fleet model)`,
    );
  return problems.length
    ? decided('cloud-audit', 'fail', `${problems.join('; ')} (${span})`)
    : decided(
        'cloud-audit',
        'pass',
        `${f.healthy} successful call(s) by the plugin in ${span} (at least ${f.expectedAtLeast} expected), longest silence ${formatDuration(f.longestSilenceMs)}`,
      );
}
