import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { packageRoot } from '../common/paths.js';
import { KMSLAB_IMAGE } from '../images/kmslab-image.js';
import { inClusterManifests, inspectArgs, inspectCronJob, inspectJob, sonobuoyPlugin } from './in-cluster.js';

type Obj = Record<string, any>;

describe('deploy/', () => {
  test.each(Object.entries(inClusterManifests()))('%s is what harness/deploy/in-cluster.ts generates', (file, text) => {
    const committed = readFileSync(join(packageRoot, 'deploy', file), 'utf8');
    expect(
      committed,
      `deploy/${file} was edited by hand: regenerate it with npx tsx harness/deploy/write-manifests.ts`,
    ).toBe(text);
    for (const doc of parseAllDocuments(text)) expect(doc.errors).toEqual([]);
  });
});

describe('one pod recipe for the Job, the CronJob and the Sonobuoy plugin', () => {
  const job = inspectJob() as Obj;
  const cron = inspectCronJob() as Obj;
  const plugin = sonobuoyPlugin() as Obj;
  const pod = job.spec.template.spec;

  test('the CronJob runs exactly the Job’s spec', () => {
    expect(cron.spec.jobTemplate.spec).toEqual(job.spec);
  });

  test('the Sonobuoy plugin runs the same container on the same node, adding only its results directory', () => {
    const [container] = pod.containers;
    const { name, command, args, volumeMounts, ...rest } = plugin.spec;
    expect(name).toBe('plugin');
    expect(command).toEqual(['bash', '-c']);
    expect(args[0]).toContain(`kmslab.js ${inspectArgs().join(' ')} --junit`);
    expect(volumeMounts.slice(0, -1)).toEqual(container.volumeMounts);
    expect(volumeMounts.at(-1)).toEqual({ name: 'results', mountPath: '/tmp/sonobuoy/results' });
    const { name: _n, args: _a, volumeMounts: _v, ...jobRest } = container;
    expect(rest).toEqual(jobRest);
    for (const field of ['hostNetwork', 'nodeSelector', 'tolerations', 'volumes', 'restartPolicy'])
      expect(plugin.podSpec[field]).toEqual(pod[field]);
  });

  test('least privilege: no privilege, no capability, read-only root and certificates, nothing pulled', () => {
    const [container] = pod.containers;
    expect(container.image).toBe(KMSLAB_IMAGE);
    expect(container.imagePullPolicy).toBe('Never');
    expect(container.securityContext).toMatchObject({
      privileged: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      // kubeadm's etcd client key is 0600 root:root: only its owner reads it without CAP_DAC_OVERRIDE.
      runAsUser: 0,
    });
    expect(container.securityContext.capabilities.add).toBeUndefined();
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.hostPID ?? false).toBe(false);
    const hostPaths = (pod.volumes as Obj[]).filter((v) => v.hostPath);
    // Only the CA certificate and the client certificate and key: never etcd's CA key or its server keys.
    expect(hostPaths.map((v) => v.hostPath)).toEqual(
      ['ca.crt', 'healthcheck-client.crt', 'healthcheck-client.key'].map((f) => ({
        path: `/etc/kubernetes/pki/etcd/${f}`,
        type: 'File',
      })),
    );
    const mounts = container.volumeMounts as Obj[];
    for (const v of hostPaths) expect(mounts.find((m) => m.name === v.name)?.readOnly).toBe(true);
    // Everything writable is an emptyDir: /tmp, where the image points HOME and TMPDIR.
    expect(mounts.filter((m) => !m.readOnly).map((m) => m.mountPath)).toEqual(['/tmp']);
  });

  test('the gate reads the node’s own etcd with those certificates, Secrets only', () => {
    const args = inspectArgs();
    const flag = (f: string) => args[args.indexOf(f) + 1];
    expect(flag('--etcd')).toBe('https://127.0.0.1:2379');
    expect(pod.hostNetwork).toBe(true);
    const mounted = (pod.containers[0].volumeMounts as Obj[]).map((m) => m.mountPath);
    for (const f of ['--cacert', '--cert', '--key']) expect(mounted).toContain(flag(f));
    expect(flag('--resource')).toBe('secrets');
    expect(args.filter((_, i) => args[i - 1] === '--fail-on')).toContain('not-prefix=k8s:enc:kms:v2:');
  });
});
