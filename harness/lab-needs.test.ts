import { describe, expect, test } from 'vitest';
import { controllersWith } from './backends/local/controller-manager-member.js';
import { featureGateArgs } from './backends/local/local-lab.js';
import { unmetNeeds } from './lab-needs.js';
import { labOptionsFor } from './start-lab.js';

describe('what a backend can give a scenario', () => {
  test('a real apiserver: every backend but the sim', () => {
    for (const b of ['local', 'kind', 'compose']) expect(unmetNeeds({ apiserver: 'real' }, b)).toBeUndefined();
    expect(unmetNeeds({ apiserver: 'real' }, 'sim')).toMatch(/needs a real kube-apiserver/);
  });

  test('the model: the sim only', () => {
    expect(unmetNeeds({ apiserver: 'model' }, 'sim')).toBeUndefined();
    for (const b of ['local', 'kind', 'compose'])
      expect(unmetNeeds({ apiserver: 'model' }, b)).toMatch(/only on the sim/);
  });

  test('feature gates, kube-controller-manager and KMS v1: local labs only', () => {
    const gates = { featureGates: { AllowUnsafeMalformedObjectDeletion: false } };
    expect(unmetNeeds(gates, 'local')).toBeUndefined();
    expect(unmetNeeds(gates, 'kind')).toMatch(/AllowUnsafeMalformedObjectDeletion.*only the local backend/);
    expect(unmetNeeds({ controllers: ['namespace-controller'] }, 'compose')).toMatch(/kube-controller-manager/);
    expect(unmetNeeds({ encryption: 'kms-v1' }, 'kind')).toMatch(/KMS v1/);
    expect(unmetNeeds({ encryption: 'kms-v1' }, 'local')).toBeUndefined();
    expect(unmetNeeds({}, 'kind')).toBeUndefined();
  });

  test('another kube-apiserver version to start on: local labs only, and it becomes the lab option', () => {
    expect(unmetNeeds({ k8sVersion: 'v1.34.4' }, 'local')).toBeUndefined();
    for (const b of ['kind', 'compose', 'sim'])
      expect(unmetNeeds({ k8sVersion: 'v1.34.4' }, b)).toMatch(/v1\.34\.4.*local/);
    expect(labOptionsFor({ k8sVersion: 'v1.34.4' }).k8sVersion).toBe('v1.34.4');
    expect(labOptionsFor({}).k8sVersion).toBeUndefined();
  });

  test('a second KMS plugin beside the lab: local labs only', () => {
    expect(unmetNeeds({ plugins: 2 }, 'local')).toBeUndefined();
    expect(unmetNeeds({ plugins: 1 }, 'kind')).toBeUndefined();
    for (const b of ['kind', 'compose', 'sim']) expect(unmetNeeds({ plugins: 2 }, b)).toMatch(/2 KMS plugins.*local/);
  });

  test('needs become local lab options: gates as one flag, KMS v1 with its gate and plugin', () => {
    expect(featureGateArgs({ A: true, BGate: false })).toEqual(['--feature-gates=A=true,BGate=false']);
    expect(featureGateArgs({})).toEqual([]);
    expect(() => featureGateArgs({ 'bad,Name=true': true })).toThrow(/not a gate name/);
    const v1 = labOptionsFor({ encryption: 'kms-v1', featureGates: { Other: true } });
    expect(v1.featureGates).toEqual({ KMSv1: true, Other: true });
    expect(v1.kmsV1).toBe(true);
    const rules = v1.encryption!('/lab/kms/kms.sock', 'kmslab');
    expect(rules[0]!.providers[0]).toEqual({ kmsV1: { name: 'legacy', socket: '/lab/kms/kms-v1.sock' } });
  });

  test('the storage version migrator brings the garbage collector it needs', () => {
    expect(controllersWith(['storage-version-migrator-controller'])).toEqual([
      'garbage-collector-controller',
      'storage-version-migrator-controller',
    ]);
    expect(controllersWith(['namespace-controller'])).toEqual(['namespace-controller']);
  });
});
