import { afterAll, expect, test } from 'vitest';
import { poll } from '../harness/common/wait.js';
import { kmslab } from './support/cli.js';
import { isolateHome, uniqueName } from './support/env.js';

isolateHome();

const name = uniqueName('msg');
afterAll(async () => {
  await kmslab(['down', '--name', name]);
}, 60_000);

test('kms rotate says when the apiserver picks the key up; status names the readyz checks that fail', async () => {
  expect((await kmslab(['up', '--name', name])).exitCode).toBe(0);

  const rotate = await kmslab(['kms', 'rotate', '--name', name]);
  expect(rotate.exitCode).toBe(0);
  const { keyId } = JSON.parse(String(rotate.stdout)) as { keyId: string };
  expect(String(rotate.stderr)).toMatch(new RegExp(`key_id ${keyId}: .* next Status call, within a minute`));
  expect(String(rotate.stderr)).toMatch(/KUBECONFIG=\S+ kubectl get --raw \/healthz\/kms-providers/);

  // The plugin gone: /readyz turns red on kms-providers once the probe's cached success (20 s) runs out.
  expect((await kmslab(['kms', 'stop', '--name', name])).exitCode).toBe(0);
  const status = await poll(
    async () => {
      const s = await kmslab(['status', '--name', name]);
      return /readyz: 500/.test(String(s.stdout)) ? s : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 2_000, what: 'kmslab status to show readyz 500' },
  );
  expect(status.exitCode).toBe(1);
  expect(String(status.stdout)).toMatch(/readyz: 500 \(failing: [^)]*\bkms-providers\b/);
  const json = JSON.parse(String((await kmslab(['status', '--name', name, '--json'])).stdout)) as {
    apiservers: Array<{ readyz: string; failing?: string[] }>;
  };
  expect(json.apiservers[0]!.failing).toContain('kms-providers');
}, 150_000);
