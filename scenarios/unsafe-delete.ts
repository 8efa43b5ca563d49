import { ScenarioFailure } from './error-class.js';
import type { Scenario } from './model.js';
import {
  OPERATOR,
  UNSAFE_DELETE_OPTIONS,
  UNSAFE_DELETE_VERB,
  call,
  expectStatus,
  grantCleaner,
  makeUndecryptable,
  secretPath,
  stillInEtcd,
} from './undecryptable.js';
import { SecretSet } from './secret-set.js';

// The apiserver's words for an object it cannot transform or decode (k8s.io/apiserver storage errors, v1.37).
const CORRUPT = /corrupt object/;

/**
 * unsafeDelete is the KEP-3926 drill: Secrets whose key was destroyed are reported corrupt, cannot be deleted the
 * ordinary way, and only someone granted `unsafe-delete-ignore-read-errors` can delete them with
 * `ignoreStoreReadErrorWithClusterBreakingPotential` — after which the namespace works again.
 */
export const unsafeDelete: Scenario = {
  name: 'unsafe-delete',
  summary: 'Key A is destroyed: its Secrets are corrupt until an operator with the unsafe-delete verb removes them',
  proves:
    'with the key destroyed a GET answers 500 "corrupt object" and an ordinary DELETE fails; the unsafe DELETE (ignoreStoreReadErrorWithClusterBreakingPotential) is refused with 403 to a user whose Role grants delete but not unsafe-delete-ignore-read-errors, and succeeds once the verb is granted; then listing, writing, ServiceAccount tokens and deleting the namespace (kube-controller-manager’s namespace controller removes it) work again',
  tags: ['recovery'],
  needs: { encryption: 'kms', apiserver: 'real', kms: ['rotate', 'destroy'], controllers: ['namespace-controller'] },
  async run(lab, ctx) {
    const ns = ctx.namespace;
    const { set } = await makeUndecryptable(lab, ctx);
    const first = set.refs[0]!;
    await ctx.step('every GET answers 500 "corrupt object"; LIST fails too', async (ev) => {
      for (const ref of set.refs) {
        const got = expectStatus(`GET ${ref.name}`, await call(lab, 'GET', secretPath(ns, ref.name)), 500, CORRUPT);
        if (ref === first) ev.get = got;
      }
      // The Secret watch cache cannot list them either: it stays uninitialised, so a LIST answers 429 (measured).
      const list = (ev.list = await call(lab, 'GET', secretPath(ns)));
      if (list.status < 400 || !CORRUPT.test(list.message)) {
        throw new ScenarioFailure(
          `LIST: expected a failure naming a corrupt object, got ${list.status}: ${list.message}`,
        );
      }
    });
    await ctx.step('an ordinary DELETE fails; the Secret stays in etcd', async (ev) => {
      ev.delete = expectStatus('DELETE', await call(lab, 'DELETE', secretPath(ns, first.name)), 500);
      const kept = (ev.inEtcd = await stillInEtcd(lab, set));
      if (kept !== set.size) throw new ScenarioFailure(`${set.size - kept} Secrets left etcd`);
    });
    await ctx.step(`without the ${UNSAFE_DELETE_VERB} verb the unsafe DELETE is refused (403)`, async (ev) => {
      await grantCleaner(lab, ns);
      ev.user = OPERATOR.user;
      const path = secretPath(ns, first.name);
      // The Role grants delete: an ordinary DELETE by the operator reaches storage (500), so a 403 is the verb.
      ev.ordinary = await ctx.wait('the Role to take effect', async () => {
        const r = await call(lab, 'DELETE', path, undefined, { impersonate: OPERATOR });
        return r.status === 403 ? undefined : r;
      });
      expectStatus('ordinary DELETE by the operator', ev.ordinary as { status: number; message: string }, 500);
      const verb = new RegExp(UNSAFE_DELETE_VERB);
      ev.unsafe = expectStatus(
        'unsafe DELETE without the verb',
        await call(lab, 'DELETE', path, UNSAFE_DELETE_OPTIONS, { impersonate: OPERATOR }),
        403,
        verb,
      );
      ev.inEtcd = await stillInEtcd(lab, set);
    });
    await ctx.step(`with the verb granted the unsafe DELETE removes every corrupt Secret`, async (ev) => {
      await grantCleaner(lab, ns, [UNSAFE_DELETE_VERB]);
      const t = lab.clock.now();
      const firstAnswer = await ctx.wait('the granted verb to take effect', async () => {
        const r = await call(lab, 'DELETE', secretPath(ns, first.name), UNSAFE_DELETE_OPTIONS, {
          impersonate: OPERATOR,
        });
        return r.status === 403 ? undefined : r;
      });
      ev.grantSeconds = (lab.clock.now() - t) / 1000;
      expectStatus('unsafe DELETE with the verb', firstAnswer, 200);
      for (const ref of set.refs.slice(1)) {
        expectStatus(
          `unsafe DELETE of ${ref.name}`,
          await call(lab, 'DELETE', secretPath(ns, ref.name), UNSAFE_DELETE_OPTIONS, { impersonate: OPERATOR }),
          200,
        );
      }
      ev.deleted = set.size;
      ev.inEtcd = await stillInEtcd(lab, set);
      if (ev.inEtcd !== 0) throw new ScenarioFailure(`${ev.inEtcd} Secrets are still in etcd`);
    });
    await ctx.step(
      'the cluster is usable again: list, write, ServiceAccount tokens, namespace deletion',
      async (ev) => {
        let t = lab.clock.now();
        ev.list = await ctx.wait('the Secret watch cache to list again', async () => {
          const r = await call(lab, 'GET', secretPath(ns));
          return r.status === 200 ? r : undefined;
        });
        ev.listSeconds = (lab.clock.now() - t) / 1000;
        const fresh = new SecretSet(ns);
        await fresh.create(lab.api, 'recovered', 2);
        ev.readBack = await fresh.verifyAll(lab.api);
        ev.serviceAccountToken = await serviceAccountToken(lab, ns);
        // What the namespace controller does for each resource: delete every object of the namespace in one call.
        ev.deleteCollection = expectStatus('DELETE collection', await call(lab, 'DELETE', secretPath(ns)), 200);
        expectStatus('DELETE namespace', await call(lab, 'DELETE', `/api/v1/namespaces/${ns}`), 200);
        t = lab.clock.now();
        await ctx.wait('the namespace controller to empty and remove the namespace', async () =>
          (await call(lab, 'GET', `/api/v1/namespaces/${ns}`)).status === 404 ? true : undefined,
        );
        ev.namespaceGoneSeconds = (lab.clock.now() - t) / 1000;
      },
    );
  },
};

/**
 * serviceAccountToken makes a ServiceAccount, asks for a token (TokenRequest) and has the apiserver authenticate it
 * (TokenReview); returns the name it authenticated as. The token itself is never kept.
 */
async function serviceAccountToken(lab: Parameters<Scenario['run']>[0], ns: string): Promise<string> {
  const sa = 'recovered-app';
  expectStatus(
    'create ServiceAccount',
    await call(lab, 'POST', `/api/v1/namespaces/${ns}/serviceaccounts`, { metadata: { name: sa } }),
    201,
  );
  const issued = await lab.api.request('POST', `/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`, {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: { expirationSeconds: 600 },
  });
  if (issued.status !== 201) throw new ScenarioFailure(`TokenRequest answered ${issued.status}`);
  const token = (JSON.parse(issued.body) as { status?: { token?: string } }).status?.token;
  if (!token) throw new ScenarioFailure('TokenRequest gave no token');
  const review = await lab.api.request('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenReview',
    spec: { token },
  });
  const status = (JSON.parse(review.body) as { status?: { authenticated?: boolean; user?: { username?: string } } })
    .status;
  if (review.status !== 201 || !status?.authenticated) {
    throw new ScenarioFailure(`the ServiceAccount's token did not authenticate (TokenReview ${review.status})`);
  }
  return status.user?.username ?? '';
}
