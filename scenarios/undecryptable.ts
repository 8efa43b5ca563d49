import type { HttpAnswer, Lab, RawRequestOptions } from '../harness/lab.js';
import { apiErrorOf } from '../harness/kube/rest-objects.js';
import { expectAllKmsV2 } from './checks.js';
import { LIVEZ_HOLD, createSecrets, restartEach } from './common-steps.js';
import { ScenarioFailure } from './error-class.js';
import type { ScenarioContext } from './model.js';
import { SecretSet, secretKey } from './secret-set.js';

/** The user the drill acts as: not system:masters, so RBAC decides what it may do. */
export const OPERATOR = { user: 'kmslab-recovery-operator' };
/** The verb KEP-3926 asks of whoever deletes an object the apiserver cannot read. */
export const UNSAFE_DELETE_VERB = 'unsafe-delete-ignore-read-errors';
export const UNSAFE_DELETE_OPTIONS = {
  apiVersion: 'v1',
  kind: 'DeleteOptions',
  ignoreStoreReadErrorWithClusterBreakingPotential: true,
};

const RBAC = '/apis/rbac.authorization.k8s.io/v1';
const ROLE = 'secret-cleaner';

/**
 * makeUndecryptable is the first half of every recovery drill: Secrets written under key A, the KMS rotated to B and
 * A destroyed, then the apiserver restarted (its DEK cache emptied). It writes with B; nothing can read A's Secrets
 * again. Returns the Secrets and A's key_id.
 */
export async function makeUndecryptable(lab: Lab, ctx: ScenarioContext): Promise<{ set: SecretSet; lost: string }> {
  const set = new SecretSet(ctx.namespace);
  await createSecrets(lab, ctx, set, `create ${ctx.params.secrets} Secrets under key A`);
  const lost = await ctx.step('rotate the KMS to key B and destroy key A', async (ev) => {
    const { keyId } = await lab.kms.status();
    ev.destroyed = keyId;
    ev.stored = await expectAllKmsV2(lab, `/registry/secrets/${ctx.namespace}/`, keyId, set.size);
    ev.current = (await lab.kms.rotate()).keyId;
    await lab.kms.destroy(keyId);
    return keyId;
  });
  await ctx.step('restart the apiserver: it writes with key B, its DEK cache is empty', async (ev) => {
    const t = lab.clock.now();
    await restartEach(ctx, lab.apiservers, 'live', LIVEZ_HOLD);
    ev.secondsToLive = (lab.clock.now() - t) / 1000;
    const fresh = new SecretSet(ctx.namespace);
    await ctx.wait('a write under key B', async () =>
      (await fresh.create(lab.api, 'after-restart', 1).then(
        () => true,
        () => undefined,
      ))
        ? true
        : undefined,
    );
    ev.write = 'ok';
    await lab.api.deleteSecret(fresh.refs[0]!);
    ev.stillOnA = await expectAllKmsV2(lab, `/registry/secrets/${ctx.namespace}/`, lost, set.size);
  });
  return { set, lost };
}

/** call makes a raw API call and keeps the status and the apiserver's message (never the object: it may hold data). */
export async function call(
  lab: Lab,
  method: string,
  path: string,
  body?: unknown,
  options?: RawRequestOptions,
): Promise<{ status: number; message: string }> {
  const res: HttpAnswer = await lab.api.request(method, path, body, options);
  const ok = res.status >= 200 && res.status < 300;
  return { status: res.status, message: ok ? 'ok' : apiErrorOf(res.status, res.body).message.slice(0, 600) };
}

/** expectStatus fails unless the answer has the status (and the words); it returns the answer for evidence. */
export function expectStatus(
  what: string,
  answer: { status: number; message: string },
  status: number,
  words?: RegExp,
): { status: number; message: string } {
  if (answer.status !== status || (words && !words.test(answer.message))) {
    throw new ScenarioFailure(
      `${what}: expected ${status}${words ? ` saying ${words}` : ''}, got ${answer.status}: ${answer.message}`,
    );
  }
  return answer;
}

export const secretPath = (namespace: string, name?: string) =>
  `/api/v1/namespaces/${namespace}/secrets${name === undefined ? '' : `/${name}`}`;

/** grantCleaner gives the operator a Role in the namespace: get, list and delete Secrets, plus any extra verbs. */
export async function grantCleaner(lab: Lab, namespace: string, extraVerbs: string[] = []): Promise<void> {
  const role = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: ROLE, namespace },
    rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'delete', ...extraVerbs] }],
  };
  const existing = await call(lab, 'GET', `${RBAC}/namespaces/${namespace}/roles/${ROLE}`);
  const written =
    existing.status === 404
      ? await call(lab, 'POST', `${RBAC}/namespaces/${namespace}/roles`, role)
      : await call(lab, 'PUT', `${RBAC}/namespaces/${namespace}/roles/${ROLE}`, role);
  if (written.status >= 300) throw new ScenarioFailure(`could not write Role ${ROLE}: ${written.message}`);
  if (existing.status !== 404) return;
  const binding = await call(lab, 'POST', `${RBAC}/namespaces/${namespace}/rolebindings`, {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: ROLE, namespace },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: ROLE },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: OPERATOR.user }],
  });
  if (binding.status >= 300) throw new ScenarioFailure(`could not bind Role ${ROLE}: ${binding.message}`);
}

/** stillInEtcd counts the keys of the set that etcd still holds. */
export async function stillInEtcd(lab: Lab, set: SecretSet): Promise<number> {
  let n = 0;
  for (const ref of set.refs) if (await lab.etcd.get(secretKey(ref))) n++;
  return n;
}
