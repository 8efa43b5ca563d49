import { K8S_VERSION } from '../harness/images/versions.js';
import type { Lab } from '../harness/lab.js';
import { classify } from '../sim/envelope.js';
import { expectAllKmsV2 } from './checks.js';
import { StoredBytes } from './etcd-bytes.js';
import { createSecrets } from './common-steps.js';
import { ScenarioFailure } from './error-class.js';
import type { Scenario } from './model.js';
import { secretKey, SecretSet } from './secret-set.js';

/**
 * The oldest kube-apiserver this repo pins (harness/binaries/go/kube-apiserver/pins): data written there must last.
 * Older ones do not build from the module proxy: v1.29 needs k8s.io/legacy-cloud-providers, which it refuses (403).
 */
export const OLDEST_PINNED = 'v1.30.14';

/**
 * upgradeKeepsData writes Secrets with the oldest pinned kube-apiserver, upgrades the same etcd and plugin to the
 * current one, and rolls back: each release must read what the other wrote, without rewriting anything.
 */
export const upgradeKeepsData: Scenario = {
  name: 'upgrade-keeps-data',
  summary: `Secrets written by kube-apiserver ${OLDEST_PINNED}, read by ${K8S_VERSION} after an upgrade, then by ${OLDEST_PINNED} again after a rollback`,
  proves: `values ${OLDEST_PINNED} stored under KMS v2 read back on ${K8S_VERSION} with their etcd bytes untouched (the upgrade rewrites nothing), ${K8S_VERSION} writes the same EncryptedObject shape under the same key_id, and a rollback to ${OLDEST_PINNED} reads what ${K8S_VERSION} wrote`,
  tags: ['upgrade'],
  needs: { apiserver: 'real', k8sVersion: OLDEST_PINNED },
  async run(lab, ctx) {
    const upgrade = lab.upgradeApiservers?.bind(lab);
    if (!upgrade) throw new ScenarioFailure(`the ${lab.backend} lab cannot switch kube-apiserver versions`);
    const prefix = (set: SecretSet) => `/registry/secrets/${set.namespace}/`;
    const old = new SecretSet(ctx.namespace);
    await ctx.step(`every apiserver runs ${OLDEST_PINNED}`, async (ev) => {
      ev.versions = await expectVersion(lab, OLDEST_PINNED);
    });
    await createSecrets(lab, ctx, old, `create ${ctx.params.secrets} Secrets on ${OLDEST_PINNED}`);
    const { keyId } = await lab.kms.status();
    const written = await ctx.step(
      `raw etcd: ${OLDEST_PINNED} stored every Secret as KMS v2; keep the bytes`,
      async (ev) => {
        ev.stored = await expectAllKmsV2(lab, prefix(old), keyId, old.size);
        ev.shape = shapeOf((await lab.etcd.get(secretKey(old.refs[0]!)))!);
        return { bytes: await StoredBytes.keep(lab, old), shape: ev.shape };
      },
    );
    await ctx.step(`upgrade every apiserver to ${K8S_VERSION}`, async (ev) => {
      const t = lab.clock.now();
      await upgrade(K8S_VERSION);
      ev.seconds = (lab.clock.now() - t) / 1000;
      ev.versions = await expectVersion(lab, K8S_VERSION);
    });
    await ctx.step(
      `${K8S_VERSION} reads every Secret ${OLDEST_PINNED} wrote; their etcd bytes are untouched`,
      async (ev) => {
        ev.read = await old.verifyAll(lab.api);
        ev.unchanged = await written.bytes.expectUnchanged(lab);
      },
    );
    const fresh = new SecretSet(`${ctx.namespace}-new`);
    await ctx.step(`${K8S_VERSION} writes KMS v2 of the same shape under the same key_id`, async (ev) => {
      await lab.api.ensureNamespace(fresh.namespace);
      await fresh.create(lab.api, 'secret', ctx.params.secrets);
      ev.stored = await expectAllKmsV2(lab, prefix(fresh), keyId, fresh.size);
      const shape = shapeOf((await lab.etcd.get(secretKey(fresh.refs[0]!)))!);
      ev.shape = shape;
      if (JSON.stringify(shape) !== JSON.stringify(written.shape))
        throw new ScenarioFailure(
          `${K8S_VERSION} stores ${JSON.stringify(shape)}, ${OLDEST_PINNED} stored ${JSON.stringify(written.shape)}`,
        );
    });
    await ctx.step(`roll back to ${OLDEST_PINNED}: it reads what both releases wrote`, async (ev) => {
      await upgrade(OLDEST_PINNED);
      ev.versions = await expectVersion(lab, OLDEST_PINNED);
      ev.readOld = await old.verifyAll(lab.api);
      ev.readNew = await fresh.verifyAll(lab.api);
    });
  },
};

/** expectVersion fails unless every apiserver reports this release in /version. */
async function expectVersion(lab: Lab, version: string): Promise<Record<string, string>> {
  const seen: Record<string, string> = {};
  for (const a of lab.apiservers) {
    const answer = await a.api.request('GET', '/version');
    seen[a.name] = (JSON.parse(answer.body) as { gitVersion?: string }).gitVersion ?? `(HTTP ${answer.status})`;
  }
  const other = Object.entries(seen).filter(([, v]) => !v.startsWith(version));
  if (other.length)
    throw new ScenarioFailure(`expected ${version}, ${other.map(([a, v]) => `${a} runs ${v}`).join(', ')}`);
  return seen;
}

/** shapeOf is what an EncryptedObject carries, without its secret parts: what two releases must agree on. */
function shapeOf(value: Buffer) {
  const v2 = classify(value).kmsV2;
  if (!v2) throw new ScenarioFailure(`not a KMS v2 value: ${classify(value).class}`);
  return {
    dekSourceType: v2.dekSourceType,
    annotationKeys: v2.annotationKeys,
    encryptedDEKSourceBytes: v2.encryptedDEKSourceBytes,
  };
}
