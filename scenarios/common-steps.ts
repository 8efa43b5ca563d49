import type { Lab } from '../harness/lab.js';
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
