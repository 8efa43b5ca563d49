import { randomBytes, randomUUID } from 'node:crypto';
import type { AuditRecord, KmsMethod } from '../fake-kms/index.js';
import type { CloudFaultSpec } from '../cloud/core/faults.js';
import type { Lab } from '../harness/lab.js';
import { UpstreamPlugin } from '../proxy/index.js';
import { auditMark } from './audit-mark.js';
import { expectAllKmsV2 } from './checks.js';
import { cloudMark, cloudOf, isCryptoCall, tally } from './cloud-trails.js';
import { createSecrets, kmsHealthFails } from './common-steps.js';
import { errorClass, ScenarioFailure } from './error-class.js';
import type { Evidence, Scenario } from './model.js';
import { SecretSet } from './secret-set.js';

/** The apiserver's deadline for each Status, Encrypt and Decrypt: the provider's timeout, 3 s in every lab. */
export const APISERVER_KMS_DEADLINE_MS = 3_000;
// An answer this close to the deadline is one the apiserver's call (which started a little earlier) never got.
const DEADLINE_MARGIN_MS = 100;

/** The cloud's failures the plugin must answer through: each is a fault at the cloud, for every action. */
export const BACKEND_FAULTS: ReadonlyArray<{ label: string; spec: CloudFaultSpec }> = [
  { label: 'unreachable (connections reset at once)', spec: { kind: 'unreachable' } },
  { label: 'slow (every answer 4 s late)', spec: { kind: 'latency', ms: 4_000 } },
  { label: 'hanging (no answer at all)', spec: { kind: 'hang' } },
  { label: 'refusing (each request read, then reset)', spec: { kind: 'reset' } },
];

/** A call at the socket as the verdict reads it: who made it, how long the answer took, and with which code. */
interface Answer {
  method: KmsMethod;
  by: 'kmslab' | 'apiserver';
  code: string;
  ms: number;
}

/**
 * lateAnswers names the calls the plugin answered at or past the apiserver's deadline: the apiserver had already
 * given up on them (the socket trail records such a call as the caller's own DEADLINE_EXCEEDED at the deadline).
 */
export function lateAnswers(answers: Answer[], deadlineMs = APISERVER_KMS_DEADLINE_MS): Answer[] {
  return answers.filter((a) => a.ms >= deadlineMs - DEADLINE_MARGIN_MS);
}

export const cloudUnreachable: Scenario = {
  name: 'cloud-unreachable',
  summary:
    'The cloud KMS behind the plugin unreachable, slow past the deadline, hanging, or resetting connections, then back',
  proves:
    "for each backend failure the plugin answers Status, Encrypt and Decrypt with a failing code within the apiserver's 3 s deadline (a call answered at or past it fails the scenario, named), /healthz/kms-providers turns red while cached DEKs keep reads and writes going, and when the fault clears health, the plugin and the cloud trail's Encrypt and Decrypt by the cluster's identity come back by themselves; every Secret written meanwhile is KMS v2 in raw etcd and reads back",
  tags: ['cloud'],
  needs: { encryption: 'kms', kms: ['cloud-faults', 'cloud-audit'] },
  async run(lab, ctx) {
    const cloud = cloudOf(lab);
    const set = new SecretSet(ctx.namespace);
    await createSecrets(lab, ctx, set);
    // kmslab calls the plugin as the apiserver does: on the apiserver's socket, with its deadline per call.
    const socket = new UpstreamPlugin(lab.kmsSocket, APISERVER_KMS_DEADLINE_MS);
    try {
      const sealed = await ctx.step('wrap a DEK seed through the socket while the cloud is healthy', async (ev) => {
        const plaintext = randomBytes(32);
        const w = await socket.encrypt({ plaintext, uid: randomUUID() });
        ev.keyId = w.keyId;
        return { plaintext, ...w };
      });
      for (const { label, spec } of BACKEND_FAULTS) {
        const marks = { socket: await auditMark(lab), cloud: await cloudMark(cloud), at: lab.clock.now() };
        await cloud.addFault(spec);
        await ctx.step(`${label}: the plugin answers Status, Encrypt and Decrypt within the 3 s deadline`, (ev) =>
          probe(lab, socket, sealed, marks.socket, ev),
        );
        await ctx.step(`${label}: /healthz/kms-providers turns red; cached DEKs keep reads and writes`, async (ev) => {
          await kmsHealthFails(lab, ctx, ev);
          ev.secondsSinceFault = (lab.clock.now() - marks.at) / 1000;
          ev.read = await set.verifyAll(lab.api);
          ev.write = await set.create(lab.api, `during-${spec.kind}`, 1).then(
            () => 'ok',
            (e: unknown) => errorClass(e),
          );
          // Every call the apiserver made meanwhile answered in time too.
          const answers = answersOf(await lab.kms.audit({ afterSeq: marks.socket }));
          ev.apiserverCalls = summary(answers.filter((a) => a.by === 'apiserver'));
          const late = lateAnswers(answers);
          if (late.length) throw new ScenarioFailure(lateMessage(late));
          const served = (await cloud.audit({ afterSeq: marks.cloud })).filter(
            (e) => isCryptoCall(e) && e.principal === cloud.principal && !e.errorCode,
          );
          ev.cloudServed = served.length;
          if (served.length)
            throw new ScenarioFailure(
              `the cloud served ${JSON.stringify(tally(served))} while it was ${label}: the fault was not in force`,
            );
        });
        await ctx.step(`${label} cleared: health, the plugin and the cloud serve again by themselves`, async (ev) => {
          const cleared = { cloud: await cloudMark(cloud), at: lab.clock.now() };
          await cloud.clearFaults();
          await ctx.wait(
            '/healthz/kms-providers to pass again',
            async () => ((await lab.api.request('GET', '/healthz/kms-providers')).status === 200 ? true : undefined),
            { timeoutMs: 60_000, intervalMs: 500 },
          );
          ev.healthySecondsAfterClear = (lab.clock.now() - cleared.at) / 1000;
          const back = await socket.decrypt(unwrapRequest(sealed));
          if (!back.plaintext.equals(sealed.plaintext))
            throw new ScenarioFailure('after the fault the plugin decrypted the probe seed to other bytes');
          await socket.encrypt({ plaintext: randomBytes(32), uid: randomUUID() });
          const after = (await cloud.audit({ afterSeq: cleared.cloud })).filter(
            (e) => isCryptoCall(e) && e.principal === cloud.principal,
          );
          ev.cloudAfterClear = tally(after);
          for (const action of ['Encrypt', 'Decrypt'])
            if (!after.some((e) => e.action === action && !e.errorCode))
              throw new ScenarioFailure(
                `no ${action} by ${cloud.principal} served by the cloud after the fault cleared`,
              );
          await set.create(lab.api, `after-${spec.kind}`, 1);
        });
      }
      await ctx.step(
        'raw etcd: every Secret, those written during the faults too, is KMS v2 and reads back',
        async (ev) => {
          const { keyId } = await lab.kms.status();
          ev.stored = await expectAllKmsV2(lab, set.etcdPrefix, keyId, set.size);
          ev.read = await set.verifyAll(lab.api);
        },
      );
    } finally {
      // The lab's cloud outlives this scenario: no fault stays behind, whatever failed.
      await cloud.clearFaults().catch(() => undefined);
      socket.close();
    }
  },
};

// probe makes each call twice under the fault, as the apiserver would, and holds every answer to the deadline.
async function probe(lab: Lab, socket: UpstreamPlugin, sealed: Sealed, mark: number, ev: Evidence): Promise<void> {
  const calls: Array<[KmsMethod, () => Promise<unknown>]> = [
    ['Status', () => socket.status()],
    ['Encrypt', () => socket.encrypt({ plaintext: randomBytes(32), uid: randomUUID() })],
    ['Decrypt', () => socket.decrypt(unwrapRequest(sealed))],
  ];
  const served: string[] = [];
  for (let round = 0; round < 2; round++)
    for (const [method, call] of calls)
      await call().then(
        // A Status that answers unhealthy reports the fault: only "ok" is served.
        (r) => (method !== 'Status' || (r as { healthz: string }).healthz === 'ok') && served.push(method),
        () => undefined,
      );
  const answers = answersOf(await lab.kms.audit({ afterSeq: mark }));
  const ours = answers.filter((a) => a.by === 'kmslab');
  ev.answers = summary(answers);
  ev.servedDespiteFault = served;
  for (const method of ['Status', 'Encrypt', 'Decrypt'] as const)
    if (!ours.some((a) => a.method === method))
      throw new ScenarioFailure(`the socket trail has no record of kmslab's ${method} call`);
  const late = lateAnswers(answers);
  if (late.length) throw new ScenarioFailure(lateMessage(late));
}

type Sealed = { ciphertext: Buffer; keyId: string; annotations: Record<string, Buffer> };

// unwrapRequest asks for a sealed seed back, as the apiserver asks for a stored one.
const unwrapRequest = (w: Sealed) => ({
  ciphertext: w.ciphertext,
  keyId: w.keyId,
  annotations: w.annotations,
  uid: randomUUID(),
});

// answersOf reads socket records as answers; a call from this process is kmslab's probe, any other the apiserver's.
function answersOf(records: AuditRecord[]): Answer[] {
  return records.map((r) => ({
    method: r.method,
    by: r.peer?.pid === process.pid ? 'kmslab' : 'apiserver',
    code: r.code,
    ms: Math.round(r.latencyMs),
  }));
}

// summary groups answers by caller and method: codes seen and the slowest answer, for evidence.
function summary(answers: Answer[]): Record<string, { codes: string[]; maxMs: number; calls: number }> {
  const out: Record<string, { codes: string[]; maxMs: number; calls: number }> = {};
  for (const a of answers) {
    const k = `${a.by} ${a.method}`;
    const s = (out[k] ??= { codes: [], maxMs: 0, calls: 0 });
    if (!s.codes.includes(a.code)) s.codes.push(a.code);
    s.maxMs = Math.max(s.maxMs, a.ms);
    s.calls++;
  }
  return out;
}

function lateMessage(late: Answer[]): string {
  const first = late[0]!;
  return `the plugin answered ${first.by === 'apiserver' ? "the apiserver's" : "kmslab's"} ${first.method} after ${first.ms} ms (${first.code}): at or past the apiserver's ${APISERVER_KMS_DEADLINE_MS / 1000} s deadline, so the apiserver had given up (${late.length} such call${late.length > 1 ? 's' : ''}: ${[...new Set(late.map((a) => a.method))].join(', ')})`;
}
