import { expect, test } from 'vitest';
import { parse } from 'yaml';
import { kindConfigYaml } from './kind-config.js';

const base = { name: 'kmslab-x', k8sVersion: 'v1.37.2', hostKmsDir: '/h/kms', hostConfigDir: '/h/enc' };
const load = (yaml: string) =>
  parse(yaml) as {
    networking?: { disableDefaultCNI?: boolean };
    nodes: Array<{ image: string }>;
    kubeadmConfigPatches: string[];
  };

test("kmslab's node image: no default CNI, kubeadm never pulls, kubelet accepts cgroup v1", () => {
  const c = load(kindConfigYaml(base));
  expect(c.nodes[0]!.image).toBe('kmslab/kind-node:v1.37.2');
  expect(c.networking).toEqual({ disableDefaultCNI: true });
  const kinds = c.kubeadmConfigPatches.map((p) => (parse(p) as { kind: string }).kind);
  expect(kinds).toEqual(['ClusterConfiguration', 'InitConfiguration', 'KubeletConfiguration']);
  expect(c.kubeadmConfigPatches[1]).toContain('imagePullPolicy: Never');
  expect(c.kubeadmConfigPatches[2]).toContain('failCgroupV1: false');
});

test('an upstream node image keeps kind’s own CNI and gets only the encryption patch', () => {
  const c = load(kindConfigYaml({ ...base, image: 'kindest/node:v1.37.2' }));
  expect(c.nodes[0]!.image).toBe('kindest/node:v1.37.2');
  expect(c.networking).toBeUndefined();
  expect(c.kubeadmConfigPatches).toHaveLength(1);
});
