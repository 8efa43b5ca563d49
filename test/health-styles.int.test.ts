import { describe, expect, test } from 'vitest';
import { labOptionsFor, startLab } from '../harness/index.js';
import { SCENARIOS, runScenario } from '../scenarios/index.js';
import { isolateHome, uniqueName } from './support/env.js';

isolateHome();

// The key-disabled scenarios with a plugin of the other health style (Status fails once the key is disabled, as
// ACK's plugin does) on the real control plane: they judge what that style must do and leave the key enabled. The
// default style (not-ok-keep-key-id) runs in scenarios.int.test.ts.
describe('key-disabled scenarios with a fail-rpc plugin (local backend)', () => {
  test.concurrent.each(['key-disabled', 'key-disabled-before-migration', 'ha-key-disabled'])(
    '%s passes and leaves every key enabled',
    async (name) => {
      const scenario = SCENARIOS.find((s) => s.name === name)!;
      const lab = await startLab({ name: uniqueName(`rpc-${name.slice(0, 10)}`), ...labOptionsFor(scenario.needs) });
      try {
        await lab.kms.setDisabledKeyStatus('fail-rpc');
        const result = await runScenario(scenario, lab, {
          params: { secrets: 6 },
          artifactsDir: 'reports/artifacts',
        });
        const failed = result.steps.find((s) => s.outcome === 'failed');
        expect(failed?.error?.message, failed?.name).toBeUndefined();
        expect(result.outcome).toBe('passed');
        expect((await lab.kms.status()).versions!.every((v) => v.state === 'enabled')).toBe(true);
        if (name === 'key-disabled') {
          const audit = result.steps.find((s) => s.name.startsWith('the audit trail'))!.evidence;
          expect(audit.healthStyle).toBe('fail-rpc');
          expect(audit.encryptCalls).toBe(0);
          expect((audit.refusedByMethod as Record<string, number>).Status).toBeGreaterThan(0);
        }
      } finally {
        await lab.close();
      }
    },
    300_000,
  );
});
