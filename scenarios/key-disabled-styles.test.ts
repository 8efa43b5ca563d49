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

// What the plugin does once /healthz/kms-providers has turned red (after the scenario judged its style): a way to
// make a style scenario's claim about writes false while its style check still passes.
function onceHealthFails(lab: Lab, then: () => Promise<void>): Lab {
  let fired = false;
  const api = new Proxy(lab.api, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (prop !== 'request' || typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        const answer = await (value as (...a: unknown[]) => Promise<{ status: number }>).apply(target, args);
        if (!fired && args[1] === '/healthz/kms-providers' && answer.status !== 200) {
          fired = true;
          await then();
        }
        return answer;
      };
    },
  });
  return new Proxy(lab, { get: (target, prop) => (prop === 'api' ? api : Reflect.get(target, prop, target)) });
}

describe('#138950 in both styles (sim: the model of v1.37.2, in virtual time)', () => {
  async function run(name: string, prepare?: (lab: Lab) => Promise<Lab> | Lab) {
    const s = scenario(name);
    const lab = await startLab({ backend: 'sim', seed: `writes-${name}`, ...labOptionsFor(s.needs) });
    try {
      const result = await runScenario(s, prepare ? await prepare(lab) : lab, { params: { secrets: 4 } });
      return { result, versions: (await lab.kms.status()).versions! };
    } finally {
      await lab.close();
    }
  }
  const step = (r: Awaited<ReturnType<typeof run>>['result'], start: string) =>
    r.steps.find((st) => st.name.startsWith(start))!;

  test('not-ok-keep-key-id: writes go on past the expiry under the disabled key_id; a restart then serves nothing', async () => {
    const { result, versions } = await run('disabled-key-writes-go-on');
    expect(result.steps.find((st) => st.outcome === 'failed')?.error?.message).toBeUndefined();
    const past = step(result, 'writes go on past the 180 s');
    expect(past.evidence.secondsAfterLastHealthyStatus as number).toBeGreaterThanOrEqual(195);
    expect(past.evidence.storedKeyId).toBe(versions[0]!.keyId);
    expect(past.evidence.notOkStatusesMeanwhile as number).toBeGreaterThan(0);
    expect(step(result, 'the audit trail').evidence.refusedByMethod).toMatchObject({ Status: 0 });
    expect(versions.every((v) => v.state === 'enabled')).toBe(true);
  });

  test('fail-rpc: writes stop with the expiry error about 180 s after the last good Status; no Encrypt after a restart', async () => {
    const { result } = await run('disabled-key-writes-stop');
    expect(result.steps.find((st) => st.outcome === 'failed')?.error?.message).toBeUndefined();
    const expiry = step(result, 'writes fail once the write key expires');
    expect(expiry.evidence.errorClass).toBe('kms-write-key-expired');
    expect(step(result, 'the audit trail').evidence.encryptCalls).toBe(0);
  });

  test('go-on fails when the plugin is of the other style, at the style check', async () => {
    const { result, versions } = await run('disabled-key-writes-go-on', (lab) => sabotageStyle(lab, 'fail-rpc'));
    const failed = result.steps.find((st) => st.outcome === 'failed')!;
    expect(failed.name).toMatch(/^health style not-ok-keep-key-id/);
    expect(failed.error).toMatchObject({ class: 'assertion', message: expect.stringMatching(/style fail-rpc/) });
    expect(versions.every((v) => v.state === 'enabled')).toBe(true);
  });

  test('stop fails when the plugin is of the other style, at the style check', async () => {
    const { result } = await run('disabled-key-writes-stop', (lab) => sabotageStyle(lab, 'not-ok-keep-key-id'));
    const failed = result.steps.find((st) => st.outcome === 'failed')!;
    expect(failed.name).toMatch(/^health style fail-rpc/);
    expect(failed.error?.message).toMatch(/style not-ok-keep-key-id/);
  });

  test('go-on fails when Status starts failing after the style check: writes then stop at the expiry', async () => {
    const { result, versions } = await run('disabled-key-writes-go-on', (lab) =>
      onceHealthFails(lab, async () => void (await lab.kms.addFault({ kind: 'error', method: 'Status' }))),
    );
    const failed = result.steps.find((st) => st.outcome === 'failed')!;
    expect(failed.name).toMatch(/^writes go on past the 180 s/);
    expect(failed.error?.class).toBe('assertion');
    expect(failed.evidence.writeErrorClass).toBe('kms-write-key-expired');
    expect(versions.every((v) => v.state === 'enabled')).toBe(true);
  });

  test('stop fails when Status answers again after the style check: writes never stop', async () => {
    const { result } = await run('disabled-key-writes-stop', (lab) =>
      onceHealthFails(lab, () => lab.kms.setDisabledKeyStatus('not-ok-keep-key-id')),
    );
    const failed = result.steps.find((st) => st.outcome === 'failed')!;
    expect(failed.name).toMatch(/^writes fail once the write key expires/);
    expect(failed.error?.class).toBe('timeout');
  });
});

// A plugin that is told one style and keeps the other.
function sabotageStyle(lab: Lab, actual: (typeof HEALTH_STYLES)[number]): Lab {
  const kms = new Proxy(lab.kms, {
    get: (target, prop) =>
      prop === 'setDisabledKeyStatus'
        ? () => target.setDisabledKeyStatus(actual)
        : (Reflect.get(target, prop, target) as unknown),
  });
  return new Proxy(lab, { get: (target, prop) => (prop === 'kms' ? kms : Reflect.get(target, prop, target)) });
}

// A plugin that starts `then` once the scenario has judged its style (read the Status calls since the disable).
function onceStyleJudged(lab: Lab, then: () => Promise<void>): Lab {
  let fired = false;
  const kms = new Proxy(lab.kms, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (prop !== 'audit' || typeof value !== 'function') return value;
      return async (query: { method?: string; afterSeq?: number; code?: string }) => {
        const records = await (value as (q: unknown) => Promise<unknown>).call(target, query);
        if (!fired && query?.method === 'Status' && query.afterSeq !== undefined && query.code === undefined) {
          fired = true;
          await then();
        }
        return records;
      };
    },
  });
  return new Proxy(lab, { get: (target, prop) => (prop === 'kms' ? kms : Reflect.get(target, prop, target)) });
}

// The HA variant (two apiservers, each with its own write key) on the sim, with the same negatives; on the real
// control plane it runs on demand (about 5 min each: `kmslab run ha-writes-go-on ha-writes-stop`).
describe('#138950 in both styles with two apiservers (sim)', () => {
  async function run(name: string, prepare?: (lab: Lab) => Promise<Lab> | Lab) {
    const s = scenario(name);
    const lab = await startLab({ backend: 'sim', seed: `ha-writes-${name}`, ...labOptionsFor(s.needs) });
    try {
      const result = await runScenario(s, prepare ? await prepare(lab) : lab, { params: { secrets: 4 } });
      return { result, versions: (await lab.kms.status()).versions! };
    } finally {
      await lab.close();
    }
  }
  const failedStep = (r: Awaited<ReturnType<typeof run>>['result']) => r.steps.find((st) => st.outcome === 'failed');

  test('go-on: both write past the expiry; the restarted one serves nothing, the other still writes', async () => {
    const { result, versions } = await run('ha-writes-go-on');
    expect(failedStep(result)?.error?.message).toBeUndefined();
    const restart = result.steps.find((st) => st.name.startsWith('restart kube-apiserver-1 only'))!;
    expect(restart.evidence).toMatchObject({ coldReadErrorClass: 'kms-not-primed', warmWrite: 'ok' });
    expect(versions.every((v) => v.state === 'enabled')).toBe(true);
  });

  test('stop: writes through each stop with the expiry error; the warm one still reads after the restart', async () => {
    const { result } = await run('ha-writes-stop');
    expect(failedStep(result)?.error?.message).toBeUndefined();
    const expiry = result.steps.find((st) => st.name.startsWith('writes through each fail'))!;
    for (const a of ['kube-apiserver-0', 'kube-apiserver-1'])
      expect(expiry.evidence[a]).toMatchObject({ errorClass: 'kms-write-key-expired' });
  });

  test.each([
    ['ha-writes-go-on', 'fail-rpc', /^health style not-ok-keep-key-id/],
    ['ha-writes-stop', 'not-ok-keep-key-id', /^health style fail-rpc/],
  ] as const)('%s fails at the style check when the plugin is of style %s', async (name, actual, at) => {
    const { result, versions } = await run(name, (lab) => sabotageStyle(lab, actual));
    expect(failedStep(result)?.name).toMatch(at);
    expect(failedStep(result)?.error?.message).toMatch(new RegExp(`style ${actual}`));
    expect(versions.every((v) => v.state === 'enabled')).toBe(true);
  });

  test('go-on fails when Status starts failing after the style check: writes stop at the expiry', async () => {
    const { result } = await run('ha-writes-go-on', (lab) =>
      onceStyleJudged(lab, async () => void (await lab.kms.addFault({ kind: 'error', method: 'Status' }))),
    );
    expect(failedStep(result)?.name).toMatch(/^both write past the 180 s expiry/);
    expect(failedStep(result)?.error).toMatchObject({ class: 'assertion', message: expect.stringMatching(/failed/) });
  });

  test('stop fails when Status answers again after the style check: writes never stop', async () => {
    const { result } = await run('ha-writes-stop', (lab) =>
      onceStyleJudged(lab, () => lab.kms.setDisabledKeyStatus('not-ok-keep-key-id')),
    );
    expect(failedStep(result)?.name).toMatch(/^writes through each fail/);
    expect(failedStep(result)?.error?.class).toBe('timeout');
  });
});
