// A kmslab lab inside node:test (run: node --import tsx --test lab.test.ts). `await using` closes the lab when the
// test ends, pass or fail; on Node 20 it needs a TypeScript loader such as tsx, plain .mjs uses try/finally.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runScenarios, selectScenarios, labFactory, startLab } from 'kmslab';

test('with the KMS plugin down, reads keep working and the health check turns red', async () => {
  await using lab = await startLab({ backend: 'sim', name: 'node-test-example' });
  await lab.api.ensureNamespace('app');
  await lab.api.createSecret({ namespace: 'app', name: 'token' }, { token: 's3cret' });

  await lab.kms.stopPlugin();
  const read = await lab.api.readSecret({ namespace: 'app', name: 'token' });
  assert.equal(read.data.token?.toString(), 's3cret');
  const health = await lab.clock.waitFor(
    async () => {
      const answer = await lab.api.request('GET', '/healthz/kms-providers');
      return answer.status === 200 ? undefined : answer;
    },
    { timeoutMs: 60_000, what: '/healthz/kms-providers to fail' },
  );
  assert.notEqual(health.status, 200);
});

test("kmslab's own core scenarios pass", async () => {
  const report = await runScenarios(selectScenarios([], ['core']), labFactory({ backend: 'sim' }));
  assert.equal(report.outcome, 'passed', report.scenarios.map((s) => `${s.name}: ${s.outcome}`).join('\n'));
});
