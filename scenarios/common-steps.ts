import type { Lab, LabApiserver, StartWait } from '../harness/lab.js';
import type { EncryptionRule } from '../harness/kube/encryption-config.js';
import { findEncrypted, kmsRulesOf, labelOf, type EncryptedResources } from './encrypted-resources.js';
import type { Evidence, ScenarioContext } from './model.js';
import type { SecretSet } from './secret-set.js';

/** createSecrets is the usual first step: the scenario's Secrets, of varied sizes, through the first apiserver. */
export function createSecrets(
  lab: Lab,
  ctx: ScenarioContext,
  set: SecretSet,
  title = `create ${ctx.params.secrets} Secrets`,
) {
  return ctx.step(title, async (ev) => {
    await set.create(lab.api, 'secret', ctx.params.secrets);
    ev.created = set.size;
  });
}

/**
 * kmsHealthFails waits (up to a minute) for /healthz/kms-providers to stop answering 200 and records how long that
 * took and what it said. The probe result is cached for 20 s after a success, so this takes up to ~25 s.
 */
export async function kmsHealthFails(lab: Lab, ctx: ScenarioContext, ev: Evidence): Promise<string> {
  const t = lab.clock.now();
  const res = await ctx.wait(
    '/healthz/kms-providers to fail',
    async () => {
      const r = await lab.api.request('GET', '/healthz/kms-providers');
      return r.status === 200 ? undefined : r;
    },
    { timeoutMs: 60_000 },
  );
  ev.seconds = (lab.clock.now() - t) / 1000;
  ev.status = res.status;
  ev.body = res.body.trim().slice(0, 400);
  return res.body;
}

/**
 * kmsHealthPasses waits for /healthz/kms-providers to answer 200 again: after a fault ends, the apiserver's next
 * Status (every 10 s while unhealthy, or at a health check 3 s after the last failed one) must succeed.
 */
export function kmsHealthPasses(lab: Lab, ctx: ScenarioContext, timeoutMs = 60_000, why = ''): Promise<true> {
  return ctx.wait(
    `/healthz/kms-providers to pass${why ? ` (${why})` : ''}`,
    async () => ((await lab.api.request('GET', '/healthz/kms-providers')).status === 200 ? true : undefined),
    { timeoutMs, intervalMs: 1_000 },
  );
}

/**
 * findEncryptedStep works out, as a step of its own, every resource the lab's config writes with KMS v2 (making a
 * CRD for a custom resource it names that nothing serves), and records each one's provider and etcd prefix, and
 * what cannot be proved and why.
 */
export function findEncryptedStep(
  lab: Lab,
  ctx: ScenarioContext,
  rules: EncryptionRule[] = kmsRulesOf(lab),
): Promise<EncryptedResources> {
  return ctx.step(`find what the config encrypts with KMS v2: ${labelOf(rules).label}`, async (ev) => {
    const found = await findEncrypted(lab, rules);
    ev.resources = Object.fromEntries(found.resources.map((r) => [r.name, r.provider]));
    ev.etcdPrefixes = Object.fromEntries(found.resources.map((r) => [r.name, r.etcdPrefix]));
    if (found.skipped.length) ev.skipped = Object.fromEntries(found.skipped.map((s) => [s.resource, s.why]));
    if (found.createdCrds.length) ev.createdCrds = found.createdCrds;
    return found;
  });
}

/** A wait whose length is known: why it takes long, and about how long (for the countdown). */
export interface KnownDelay {
  why: string;
  expectedMs: number;
}

/** LIVEZ_HOLD: a restart with the KMS unusable waits about a minute for /livez (measured; docs/apiserver-behaviour.md). */
export const LIVEZ_HOLD: KnownDelay = {
  why: 'a start without a usable KMS holds it ~60 s (storage readiness, docs/apiserver-behaviour.md)',
  expectedMs: 60_000,
};

/**
 * restartEach restarts the apiservers in turn, each waiting for `wait` (/livez or /readyz), and reports the wait as it
 * goes: with a known delay, a countdown to about when it should end and why, then, if it runs over, that it has.
 */
export async function restartEach(
  ctx: ScenarioContext,
  apiservers: LabApiserver[],
  wait: StartWait,
  delay?: KnownDelay,
): Promise<void> {
  const path = wait === 'live' ? '/livez' : '/readyz';
  for (const a of apiservers) {
    // The outcome is caught at once (a rejection nobody awaits yet counts as unhandled) and rethrown below.
    const outcome = a.restart(wait).then(
      () => undefined,
      (error: unknown) => ({ error }),
    );
    let settled = false;
    void outcome.then(() => (settled = true));
    // The restart has its own limit (and its error, with the log tail, is the one reported): these only show progress.
    const phases = delay
      ? [
          { what: `${a.name} to answer ${path}: ${delay.why}`, ms: delay.expectedMs + 10_000 },
          { what: `${a.name} to answer ${path}, later than the usual ~${delay.expectedMs / 1000} s`, ms: 240_000 },
        ]
      : [{ what: `${a.name} to answer ${path} after its restart`, ms: 240_000 }];
    for (const phase of phases) {
      if (settled) break;
      await ctx
        .wait(phase.what, async () => settled || undefined, { timeoutMs: phase.ms, intervalMs: 250 })
        .catch(() => undefined);
    }
    const failed = await outcome;
    if (failed) throw failed.error;
  }
}
