import { describe, expect, test } from 'vitest';
import { HEALTH_STYLES } from '../fake-kms/index.js';
import { labOptionsFor, startLab } from '../harness/index.js';
import type { Lab } from '../harness/lab.js';
import { SCENARIOS } from './catalog.js';
import { runScenario } from './runner.js';

const scenario = (name: string) => SCENARIOS.find((s) => s.name === name)!;

async function runIn(name: string, style: (typeof HEALTH_STYLES)[number], prepare?: (lab: Lab) => Promise<Lab>) {
  const s = scenario(name);
  const lab = await startLab({ backend: 'sim', seed: `styles-${name}-${style}`, ...labOptionsFor(s.needs) });
  try {
    await lab.kms.setDisabledKeyStatus(style);
    const result = await runScenario(s, prepare ? await prepare(lab) : lab, { params: { secrets: 4 } });
    return { result, versions: (await lab.kms.status()).versions! };
  } finally {
    await lab.close();
  }
}

// On the sim (the model of v1.37.2's probe): the key-disabled scenarios pass whichever style the plugin has, judge
// what that style must do, and leave every key enabled however they end.
describe.each(HEALTH_STYLES)('key-disabled scenarios with a plugin of style %s', (style) => {
  test.each(['key-disabled', 'key-disabled-before-migration', 'ha-key-disabled'])('%s passes', async (name) => {
    const { result, versions } = await runIn(name, style);
    const failed = result.steps.find((st) => st.outcome === 'failed');
    expect(failed?.error?.message, failed?.name).toBeUndefined();
    expect(result.outcome).toBe('passed');
    expect(versions.every((v) => v.state === 'enabled')).toBe(true);
  });

  test('key-disabled records the style and what the restarted apiserver asked for', async () => {
    const { result } = await runIn('key-disabled', style);
    const audit = result.steps.find((st) => st.name === 'the audit trail shows the KMS refusing the disabled key')!;
    expect(audit.evidence.healthStyle).toBe(style);
    const refused = audit.evidence.refusedByMethod as Record<string, number>;
    if (style === 'fail-rpc') {
      expect(refused.Status).toBeGreaterThan(0);
      expect(audit.evidence.encryptCalls).toBe(0);
    } else {
      expect(refused.Encrypt).toBeGreaterThan(0);
    }
  });

  test('a scenario stopped by a failed step still enables the key again', async () => {
    const { result, versions } = await runIn('key-disabled', style, async (lab) => {
      // The restart never comes back: the scenario fails half-way, with the key disabled.
      const [a] = lab.apiservers;
      const broken = Object.assign(Object.create(a!), { restart: async () => Promise.reject(new Error('no')) });
      return Object.assign(Object.create(lab) as Lab, { apiservers: [broken] });
    });
    expect(result.outcome).toBe('failed');
    expect(result.steps.find((st) => st.outcome === 'failed')?.name).toMatch(/^restart the apiserver/);
    expect(versions.every((v) => v.state === 'enabled')).toBe(true);
  });
});
