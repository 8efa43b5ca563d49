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

export const UNSAFE_DELETE_GATE = 'AllowUnsafeMalformedObjectDeletion';

/**
 * unsafeDeleteGateOff is the same drill on an apiserver started with AllowUnsafeMalformedObjectDeletion=false (beta
 * and on by default since v1.37): the option is dropped without a word, so nothing the API offers removes the
 * Secrets — a namespace holding them can never be emptied.
 */
export const unsafeDeleteGateOff: Scenario = {
  name: 'unsafe-delete-gate-off',
  summary:
    'Key A is destroyed on an apiserver without AllowUnsafeMalformedObjectDeletion: no API call removes its Secrets',
  proves:
    'without the gate a GET answers 500 with the decryption error (not "corrupt object"), and the unsafe DELETE is silently treated as an ordinary one: it fails with 500 for a user holding unsafe-delete-ignore-read-errors and for cluster-admin alike, and so does deleting the namespace\'s Secrets: the namespace stays Terminating (NamespaceDeletionContentFailure) and every Secret stays in etcd',
  tags: ['recovery'],
  needs: {
    encryption: 'kms',
    apiserver: 'real',
    kms: ['rotate', 'destroy'],
    featureGates: { [UNSAFE_DELETE_GATE]: false },
    controllers: ['namespace-controller'],
  },
  async run(lab, ctx) {
    const ns = ctx.namespace;
    const { set } = await makeUndecryptable(lab, ctx);
    const first = set.refs[0]!;
    await ctx.step('a GET answers 500 with the decryption error, not "corrupt object"', async (ev) => {
      const got = await call(lab, 'GET', secretPath(ns, first.name));
      ev.get = expectStatus('GET', got, 500, /failed to decrypt DEK/);
      if (/corrupt object/.test(got.message)) {
        throw new ScenarioFailure(`the GET reports a corrupt object: is ${UNSAFE_DELETE_GATE} on? ${got.message}`);
      }
    });
    await ctx.step(`the unsafe DELETE fails with 500 even with ${UNSAFE_DELETE_VERB} granted`, async (ev) => {
      await grantCleaner(lab, ns, [UNSAFE_DELETE_VERB]);
      const path = secretPath(ns, first.name);
      ev.operator = await ctx.wait('the Role to take effect', async () => {
        const r = await call(lab, 'DELETE', path, UNSAFE_DELETE_OPTIONS, { impersonate: OPERATOR });
        return r.status === 403 ? undefined : r;
      });
      expectStatus('unsafe DELETE by the operator', ev.operator as { status: number; message: string }, 500);
      ev.admin = expectStatus(
        'unsafe DELETE by cluster-admin',
        await call(lab, 'DELETE', path, UNSAFE_DELETE_OPTIONS),
        500,
      );
    });
    await ctx.step(
      'deleting the namespace never ends: its Secrets cannot be deleted, every one stays in etcd',
      async (ev) => {
        ev.deleteCollection = expectStatus('DELETE collection', await call(lab, 'DELETE', secretPath(ns)), 500);
        expectStatus('DELETE namespace', await call(lab, 'DELETE', `/api/v1/namespaces/${ns}`), 200);
        ev.namespaceCondition = await ctx.wait('the namespace controller to report what it cannot delete', async () => {
          const res = await lab.api.request('GET', `/api/v1/namespaces/${ns}`);
          const status = (JSON.parse(res.body) as { status?: NamespaceStatus }).status;
          const failed = status?.conditions?.find(
            (c) => c.type === 'NamespaceDeletionContentFailure' && c.status === 'True',
          );
          return failed
            ? { phase: status?.phase, reason: failed.reason, message: failed.message?.slice(0, 300) }
            : undefined;
        });
        const kept = (ev.inEtcd = await stillInEtcd(lab, set));
        if (kept !== set.size) throw new ScenarioFailure(`${set.size - kept} Secrets left etcd`);
      },
    );
  },
};

interface NamespaceStatus {
  phase?: string;
  conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>;
}
