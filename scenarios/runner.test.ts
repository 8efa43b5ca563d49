import { expect, test } from 'vitest';
import { startLab, type Lab } from '../harness/index.js';
import { auditMark } from './audit-mark.js';
import type { Scenario } from './model.js';
import { runScenario } from './runner.js';

test('when the audit trail cannot be read, a step says its KMS calls are unknown instead of counting the whole trail', async () => {
  const lab = await startLab({ backend: 'sim', seed: 'audit' });
  const blind: Lab = Object.assign(Object.create(lab) as Lab, {
    kms: { ...lab.kms, audit: () => Promise.reject(new Error('control socket gone')) },
  });
  const scenario: Scenario = {
    name: 'blind',
    summary: 's',
    proves: 'p',
    tags: [],
    needs: {},
    async run(l, ctx) {
      await ctx.step(
        'write',
        async () => void (await l.api.createSecret({ namespace: ctx.namespace, name: 'a' }, { k: 'v' })),
      );
      await ctx.step('mark', async () => auditMark(l));
    },
  };
  const result = await runScenario(scenario, blind, { artifactsDir: '/tmp/kmslab-runner-test' });
  expect(result.steps[0]!.evidence.kmsCalls).toEqual({ unavailable: 'audit trail unreadable: control socket gone' });
  expect(result.steps[1]!.outcome).toBe('failed');
  expect(result.steps[1]!.error?.message).toMatch(/control socket gone/);
  await lab.close();
});
