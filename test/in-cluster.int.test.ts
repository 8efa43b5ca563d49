import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { KindLab } from '../harness/backends/kind/kind-lab.js';
import { packageRoot } from '../harness/common/paths.js';
import { poll } from '../harness/common/wait.js';
import {
  CRONJOB_NAME,
  INSPECT_GATE,
  JOB_NAME,
  NAMESPACE,
  SONOBUOY_RESULTS,
  sonobuoyPlugin,
} from '../harness/deploy/in-cluster.js';
import { dockerInfo } from '../harness/engine/index.js';
import { KMSLAB_IMAGE, kmslabImage } from '../harness/images/kmslab-image.js';
import { kmslab } from './support/cli.js';
import { isolateHome, uniqueName } from './support/env.js';

isolateHome();

// deploy/'s Job, CronJob and Sonobuoy plugin, applied as a user would (kubectl, on one kind lab with KMS v2
// encryption and kmslab's image loaded into its node), each compared with `kmslab inspect` run from the host against
// the same etcd: same counts, same verdict. Then a plaintext Secret written straight into etcd must fail each one,
// naming its key. Sonobuoy itself cannot be built here (its module is not on the Go proxy, its images are not on
// this machine), so its plugin runs as Sonobuoy's Job driver would run it, with a stand-in for its worker.
const engine = await dockerInfo();
const inCi = Boolean(process.env.CI);
const why = engine ? '' : ' [skipped: no container engine answers `docker info`; kmslab engine start starts one]';

const SECRETS = 6;
let lab: KindLab;

const kubectl = (args: string[], input?: string) =>
  lab.cli.nodeExec(lab.cluster, ['kubectl', '--kubeconfig', '/etc/kubernetes/admin.conf', ...args], input);
const deployFile = (file: string) => readFile(join(packageRoot, 'deploy', file), 'utf8');

interface InspectJson {
  summary: { total: number; byResource: Record<string, unknown>; byKeyId: Record<string, Record<string, number>> };
  failOn: string[];
  offending: number;
  offenders: Array<{ key: string; condition: string }>;
}

/** What two inspect runs must agree on: counts, the gate, and which keys failed it. */
const verdict = (j: InspectJson) => ({
  summary: j.summary,
  failOn: j.failOn,
  offending: j.offending,
  offenders: j.offenders.map((o) => `${o.key} ${o.condition}`).sort(),
});

/** The same inspect from the host, through the lab's own etcd access (its copy of the node's client certificate). */
async function hostInspect(
  o: { junit?: boolean } = {},
): Promise<{ exitCode: number; json: InspectJson; junit: string }> {
  const gate = INSPECT_GATE.flatMap((c) => ['--fail-on', c]);
  const junit = join(tmpdir(), `kmslab-in-cluster-${process.pid}.xml`);
  const r = await kmslab([
    'inspect',
    '--name',
    lab.name,
    '--resource',
    'secrets',
    ...gate,
    '--json',
    '--summary',
    ...(o.junit ? ['--junit', junit] : []),
  ]);
  // Its stderr holds nothing but the report it was asked for.
  expect(String(r.stderr).replace(`wrote ${junit}`, '').trim()).toBe('');
  return {
    exitCode: r.exitCode ?? -1,
    json: JSON.parse(String(r.stdout)) as InspectJson,
    junit: o.junit ? await readFile(junit, 'utf8') : '',
  };
}

/** waitForJob: the Job's final condition (Complete or Failed), and its pod's log. */
async function waitForJob(name: string): Promise<{ outcome: 'Complete' | 'Failed'; log: string }> {
  const outcome = await poll(
    async () => {
      const job = JSON.parse(await kubectl(['get', 'job', name, '-n', NAMESPACE, '-o', 'json'])) as {
        status?: { conditions?: Array<{ type: string; status: string }> };
      };
      const done = job.status?.conditions?.find((c) => ['Complete', 'Failed'].includes(c.type) && c.status === 'True');
      return done?.type as 'Complete' | 'Failed' | undefined;
    },
    { timeoutMs: 180_000, intervalMs: 1_000, what: `Job ${name} to complete or fail` },
  );
  return { outcome, log: await kubectl(['logs', '-n', NAMESPACE, `job/${name}`]) };
}

async function runJob(name: string, start: () => Promise<unknown>) {
  await kubectl(['delete', 'job', name, '-n', NAMESPACE, '--ignore-not-found', '--wait=true']);
  await start();
  const { outcome, log } = await waitForJob(name);
  return { outcome, json: JSON.parse(log) as InspectJson };
}

const runInspectJob = async () =>
  runJob(JOB_NAME, async () => kubectl(['apply', '-f', '-'], await deployFile('inspect-job.yaml')));
// The CronJob run once now, as `kubectl create job --from=cronjob/…` does: its jobTemplate, unchanged.
const runCronJobOnce = () =>
  runJob('drift-now', () => kubectl(['create', 'job', 'drift-now', `--from=cronjob/${CRONJOB_NAME}`, '-n', NAMESPACE]));

const SONOBUOY_NS = 'sonobuoy';

/**
 * runSonobuoyPlugin runs deploy/sonobuoy-plugin.yaml the way Sonobuoy's Job driver does (pkg/plugin/driver/job):
 * a Pod from the definition's podSpec plus its container, a worker container, the `results` emptyDir mounted by
 * both, and the extra volumes. The worker is a stand-in in kmslab's image that keeps Sonobuoy's side of the
 * contract: it waits for `done` in the results directory and hands over the file it names (here: to its log).
 */
async function runSonobuoyPlugin(): Promise<{ phase: string; done: string; junit: string; pluginLog: string }> {
  const plugin = parse(await deployFile('sonobuoy-plugin.yaml')) as ReturnType<typeof sonobuoyPlugin> & {
    'extra-volumes'?: object[];
  };
  const name = `sonobuoy-${plugin['sonobuoy-config']['plugin-name']}-job-${randomBytes(4).toString('hex')}`;
  const worker = {
    name: 'sonobuoy-worker',
    image: KMSLAB_IMAGE,
    imagePullPolicy: 'Never',
    command: ['bash', '-c'],
    args: [
      [
        'f="$RESULTS_DIR/done"',
        'for i in $(seq 1 240); do [ -s "$f" ] && break; sleep 0.5; done',
        '[ -s "$f" ] || { echo "no done file after 120 s"; exit 1; }',
        'r=$(cat "$f"); echo "done: $r"; cat "$r"',
      ].join('\n'),
    ],
    env: [
      { name: 'RESULTS_DIR', value: SONOBUOY_RESULTS },
      { name: 'SONOBUOY_RESULTS_DIR', value: SONOBUOY_RESULTS },
    ],
    volumeMounts: [{ name: 'results', mountPath: SONOBUOY_RESULTS }],
  };
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: SONOBUOY_NS,
      labels: { component: 'sonobuoy', 'sonobuoy-plugin': plugin['sonobuoy-config']['plugin-name'] },
    },
    spec: {
      ...plugin.podSpec,
      containers: [...plugin.podSpec.containers, plugin.spec, worker],
      volumes: [...plugin.podSpec.volumes, { name: 'results', emptyDir: {} }, ...(plugin['extra-volumes'] ?? [])],
    },
  };
  await kubectl(['apply', '-f', '-'], JSON.stringify(pod));
  const phase = await poll(
    async () => {
      const p = await kubectl(['get', 'pod', name, '-n', SONOBUOY_NS, '-o', 'jsonpath={.status.phase}']);
      return ['Succeeded', 'Failed'].includes(p) ? p : undefined;
    },
    { timeoutMs: 180_000, intervalMs: 1_000, what: `Sonobuoy plugin pod ${name} to end` },
  );
  const workerLog = await kubectl(['logs', '-n', SONOBUOY_NS, name, '-c', 'sonobuoy-worker']);
  const pluginLog = await kubectl(['logs', '-n', SONOBUOY_NS, name, '-c', plugin.spec.name]);
  const [first, ...rest] = workerLog.split('\n');
  return { phase, done: first?.replace(/^done: /, '') ?? '', junit: rest.join('\n'), pluginLog };
}

/** The JUnit testcases (condition, resource) and each one's failure text, if any: what two runs must share. */
function junitCases(xml: string): Array<{ name: string; failure?: string }> {
  const cases: Array<{ name: string; failure?: string }> = [];
  for (const m of xml.matchAll(/<testcase classname="([^"]*)" name="([^"]*)"[^>]*?(?:\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const failure = /<failure[^>]*>(?:<!\[CDATA\[)?([\s\S]*?)(?:\]\]>)?<\/failure>/.exec(m[3] ?? '')?.[1];
    cases.push({ name: `${m[1]} ${m[2]}`, ...(failure ? { failure } : {}) });
  }
  return cases;
}

test.runIf(inCi && !engine)('CI has a container engine for the in-cluster runs', () => {
  expect.fail('no container engine answers `docker info` in CI: .ci/run starts one with `kmslab engine start`');
});

describe.skipIf(!engine)(`deploy/ on kind: the Job, the CronJob and the Sonobuoy plugin${why}`, () => {
  beforeAll(async () => {
    await kmslabImage();
    lab = await KindLab.start({ name: uniqueName('incluster'), removeOnClose: true });
    await lab.loadImages([KMSLAB_IMAGE]);
    await lab.api.ensureNamespace('app');
    for (let i = 0; i < SECRETS; i++) {
      await lab.api.createSecret({ namespace: 'app', name: `s${i}` }, { value: randomBytes(16 << i).toString('hex') });
    }
    await kubectl(['create', 'namespace', SONOBUOY_NS]);
    await kubectl(['label', 'namespace', SONOBUOY_NS, 'pod-security.kubernetes.io/enforce=privileged']);
    await kubectl(['create', 'serviceaccount', 'sonobuoy-serviceaccount', '-n', SONOBUOY_NS]);
    await kubectl(['apply', '-f', '-'], await deployFile('inspect-cronjob.yaml'));
  }, 600_000);

  afterAll(async () => {
    await lab?.close();
  }, 120_000);

  describe('every Secret on KMS v2', () => {
    test('the Job completes, with the host inspect’s counts and verdict', async () => {
      const host = await hostInspect();
      expect(host.exitCode).toBe(0);
      expect(host.json.summary.total).toBe(SECRETS);
      expect(Object.keys(host.json.summary.byKeyId)).toEqual([lab.providerName]);
      const job = await runInspectJob();
      expect(job.outcome).toBe('Complete');
      expect(verdict(job.json)).toEqual(verdict(host.json));
    });

    test('a run of the CronJob completes with the same verdict', async () => {
      const host = await hostInspect();
      const run = await runCronJobOnce();
      expect(run.outcome).toBe('Complete');
      expect(verdict(run.json)).toEqual(verdict(host.json));
    });

    test('the Sonobuoy plugin hands its worker a JUnit report with the host’s testcases, all passed', async () => {
      const r = await runSonobuoyPlugin();
      expect(r.phase, r.pluginLog).toBe('Succeeded');
      expect(r.done).toBe(`${SONOBUOY_RESULTS}/kmslab-inspect.xml`);
      const cases = junitCases(r.junit);
      expect(cases.map((c) => c.name).sort()).toEqual(INSPECT_GATE.map((c) => `kmslab.inspect.${c} secrets`).sort());
      expect(cases.filter((c) => c.failure)).toEqual([]);
      expect(cases).toEqual(junitCases((await hostInspect({ junit: true })).junit));
    });
  });

  describe('a plaintext Secret written straight into etcd', () => {
    const key = `/registry/secrets/app/plain-${randomBytes(3).toString('hex')}`;
    beforeAll(async () => {
      const name = key.split('/').pop()!;
      const secret = {
        kind: 'Secret',
        apiVersion: 'v1',
        metadata: { name, namespace: 'app', uid: crypto.randomUUID(), creationTimestamp: new Date().toISOString() },
        data: { value: Buffer.from('not a secret').toString('base64') },
      };
      await lab.etcd.put(key, Buffer.from(JSON.stringify(secret)));
    });

    test('fails the Job, naming the key, as the host inspect does', async () => {
      const host = await hostInspect();
      expect(host.exitCode).toBe(1);
      expect(host.json.offenders.map((o) => o.key)).toEqual([key]);
      const job = await runInspectJob();
      expect(job.outcome).toBe('Failed');
      expect(verdict(job.json)).toEqual(verdict(host.json));
    });

    test('fails the CronJob’s run the same way', async () => {
      const run = await runCronJobOnce();
      expect(run.outcome).toBe('Failed');
      expect(verdict(run.json)).toEqual(verdict((await hostInspect()).json));
    });

    test('fails the Sonobuoy plugin’s JUnit report, naming the key', async () => {
      const r = await runSonobuoyPlugin();
      expect(r.phase, r.pluginLog).toBe('Succeeded');
      const failed = junitCases(r.junit).filter((c) => c.failure);
      expect(failed.map((c) => c.name)).toEqual(['kmslab.inspect.not-prefix=k8s:enc:kms:v2: secrets']);
      expect(failed[0]!.failure).toContain(key);
      expect(junitCases(r.junit)).toEqual(junitCases((await hostInspect({ junit: true })).junit));
    });
  });

  test('run as any user but root, the Job cannot read etcd’s client key (0600 root:root) and names it', async () => {
    const key = '/etc/kubernetes/pki/etcd/healthcheck-client.key';
    expect((await lab.cli.nodeExec(lab.cluster, ['stat', '-c', '%a %U:%G', key])).trim()).toBe('600 root:root');
    const docs = parseAllDocuments(await deployFile('inspect-job.yaml')).map((d) => d.toJS() as Record<string, any>);
    const job = docs.find((d) => d.kind === 'Job')!;
    job.metadata.name = `${JOB_NAME}-nonroot`;
    Object.assign(job.spec.template.spec.containers[0].securityContext, {
      runAsUser: 65532,
      runAsGroup: 65532,
      runAsNonRoot: true,
    });
    await kubectl(['apply', '-f', '-'], JSON.stringify(job));
    const { outcome, log } = await waitForJob(job.metadata.name);
    expect(outcome).toBe('Failed');
    expect(log).toContain(key);
    expect(log).toMatch(/permission denied|EACCES/i);
  });

  test('the default StorageClass provisions a claim a pod writes to, with no provisioner image', async () => {
    const ns = 'app';
    const claim = { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'data', namespace: ns } };
    await kubectl(
      ['apply', '-f', '-'],
      JSON.stringify({
        ...claim,
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Mi' } } },
      }),
    );
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'writes-volume', namespace: ns },
      spec: {
        restartPolicy: 'Never',
        containers: [
          {
            name: 'write',
            image: KMSLAB_IMAGE,
            imagePullPolicy: 'Never',
            securityContext: { runAsUser: 0 },
            command: ['bash', '-c', 'echo written > /data/proof && cat /data/proof'],
            volumeMounts: [{ name: 'data', mountPath: '/data' }],
          },
        ],
        volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'data' } }],
      },
    };
    await kubectl(['apply', '-f', '-'], JSON.stringify(pod));
    const phase = await poll(
      async () => {
        const p = await kubectl(['get', 'pod', 'writes-volume', '-n', ns, '-o', 'jsonpath={.status.phase}']);
        return ['Succeeded', 'Failed'].includes(p) ? p : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 1_000, what: 'the pod writing to the claimed volume to end' },
    );
    expect(phase).toBe('Succeeded');
    expect((await kubectl(['logs', '-n', ns, 'writes-volume'])).trim()).toBe('written');
    const pvc = JSON.parse(await kubectl(['get', 'pvc', 'data', '-n', ns, '-o', 'json'])) as {
      spec: { storageClassName: string };
      status: { phase: string };
    };
    expect(pvc).toMatchObject({ spec: { storageClassName: 'standard' }, status: { phase: 'Bound' } });
  });

  test('nothing was pulled: the node’s containerd and kubelet logged no pull', async () => {
    const { linesRead, pulls } = await lab.pullAttempts();
    expect(linesRead).toBeGreaterThan(100);
    expect(pulls).toEqual([]);
  });
});
