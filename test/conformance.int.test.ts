import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { runConformance, type ConformanceReport } from '../conformance/index.js';
import type { ExternalPlugin } from '../harness/backends/common/external-plugin.js';
import { packageRoot } from '../harness/common/paths.js';
import { MUTATIONS, type Mutation } from './support/broken-plugin.js';
import { kmslab } from './support/cli.js';
import { isolateHome } from './support/env.js';

const home = isolateHome();
const node = `${process.execPath} --import tsx ${packageRoot}/test/support/broken-plugin.ts`;

// Each mutant breaks one rule; conformance must flag that rule by name.
const FLAGGED_BY: Record<Mutation, string> = {
  'status-error': 'status-answers',
  'version-v1': 'status-version-accepted',
  'version-v2beta1': 'status-version-v2',
  'healthz-not-ok': 'status-healthz-ok',
  'empty-key-id': 'status-key-id',
  'long-key-id': 'status-key-id',
  'flapping-key-id': 'status-key-id-stable',
  'encrypt-other-key-id': 'encrypt-key-id-matches-status',
  'big-ciphertext': 'encrypt-ciphertext-size',
  'bad-annotation-key': 'encrypt-annotations',
  'huge-annotations': 'encrypt-annotations',
  'wrong-plaintext': 'roundtrip-seed',
  deterministic: 'encrypt-randomized',
  unauthenticated: 'decrypt-tampered-never-wrong',
  'ignores-key-id': 'decrypt-unknown-key-id',
  'unknown-errors': 'errors-have-codes',
  'empty-uid-ok': 'uid-required',
  'empty-plaintext-internal': 'roundtrip-sizes',
  slow: 'latency',
  'slowish-decrypt': 'latency-fast',
  serial: 'concurrency',
  'reuses-key-id': 'rotate-new-key-id',
  'rotation-loses-old-keys': 'rotate-old-data-decrypts',
  'disable-ignored': 'disable-refuses',
  'disabled-says-ok': 'disable-status-not-ok',
  'enable-ignored': 'enable-restores',
  'forgets-on-restart': 'restart-keeps-data',
};

const mutant = (rule: Mutation): ExternalPlugin => ({
  command: `${node} serve --socket {socket} --break ${rule}`,
  hooks: {
    rotate: `${node} rotate --break ${rule}`,
    disable: `${node} disable {keyId} --break ${rule}`,
    enable: `${node} enable {keyId} --break ${rule}`,
  },
});

const noLab = async () => {
  throw new Error('no labs in this test');
};

describe('conformance catches each broken plugin, naming the rule it breaks', () => {
  const reports = new Map<Mutation, ConformanceReport>();
  const pending = new Map<Mutation, Promise<ConformanceReport>>();
  // Four mutants at a time: each is a plugin process and a few hundred calls.
  const limit = 4;
  let active = 0;
  const queue: Array<() => void> = [];
  const run = (rule: Mutation) => {
    if (!pending.has(rule)) {
      pending.set(
        rule,
        (async () => {
          if (active >= limit) await new Promise<void>((r) => queue.push(r));
          active++;
          try {
            return await runConformance({
              plugin: mutant(rule),
              scenarios: [],
              makeLab: noLab,
              settleMs: 4_000,
              // The slow mutant would take minutes to finish every check; its rule comes early.
              failFast: rule === 'slow',
              strict: rule === 'slow',
            });
          } finally {
            active--;
            queue.shift()?.();
          }
        })(),
      );
    }
    return pending.get(rule)!;
  };

  test.concurrent.each(MUTATIONS.map((m) => [m, FLAGGED_BY[m]] as const))(
    '%s → %s',
    async (rule, checkId) => {
      const report = await run(rule);
      reports.set(rule, report);
      const check = report.checks.find((c) => c.id === checkId);
      expect(check, `${checkId} did not run`).toBeDefined();
      expect(check!.outcome, `${rule}: ${JSON.stringify(report.checks.filter((c) => c.outcome !== 'passed'))}`).toBe(
        'failed',
      );
      expect(check!.message).toBeTruthy();
      if (check!.level === 'required') expect(report.outcome).toBe('failed');
    },
    300_000,
  );
});

describe('a correct plugin passes, and what was not given is skipped with the reason', () => {
  test('the fake KMS as an external process passes conformance with every check and scenario', async () => {
    const kms = `${process.execPath} ${packageRoot}/bin/kmslab.js`;
    const control = '--control "$(dirname "$KMSLAB_PLUGIN_SOCKET")/control.sock"';
    const r = await kmslab([
      'conformance',
      '--parallel',
      '2', // each lab runs its own plugin process on its own state: independent
      '--json',
      `${home}/conformance.json`,
      '--plugin-cmd',
      `${kms} fake-kms serve --socket {socket} --state-dir "$(dirname {socket})/state"`,
      '--rotate-cmd',
      `${kms} kms rotate ${control}`,
      '--disable-cmd',
      `${kms} kms disable {keyId} ${control}`,
      '--enable-cmd',
      `${kms} kms enable {keyId} ${control}`,
    ]);
    const report = JSON.parse(readFileSync(`${home}/conformance.json`, 'utf8')) as ConformanceReport;
    const bad = report.checks.filter((c) => c.outcome !== 'passed');
    expect(r.exitCode, JSON.stringify(bad, null, 2)).toBe(0);
    expect(report.counts.required.skipped).toBe(0);
    expect(report.checks.filter((c) => c.phase === 'scenario').map((c) => [c.id, c.outcome])).toEqual([
      ['scenario-enable-new', 'passed'],
      ['scenario-rotate', 'passed'],
      ['scenario-key-disabled', 'passed'],
      ['scenario-key-disabled-before-migration', 'passed'],
    ]);
  }, 900_000);

  test('without hooks, lifecycle checks and scenarios that need them are skipped and say which hook', async () => {
    const report = await runConformance({
      plugin: { command: `${node} serve --socket {socket}` },
      scenarios: [],
      makeLab: noLab,
    });
    expect(report.outcome).toBe('passed');
    const skipped = report.checks.filter((c) => c.outcome === 'skipped');
    expect(skipped.map((c) => c.id)).toEqual(
      expect.arrayContaining(['rotate-new-key-id', 'disable-refuses', 'enable-restores']),
    );
    expect(skipped.find((c) => c.id === 'rotate-new-key-id')!.message).toBe('needs --rotate-cmd');
    // A --plugin-cmd plugin can always be restarted by kmslab itself.
    expect(report.checks.find((c) => c.id === 'restart-keeps-data')!.outcome).toBe('passed');
  }, 120_000);
});
