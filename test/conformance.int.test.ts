import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, test } from 'vitest';
import { runConformance, type CheckResult, type ConformanceReport } from '../conformance/index.js';
import type { ExternalPlugin } from '../harness/kms/index.js';
import { packageRoot } from '../harness/common/paths.js';
import { MUTATIONS, type Mutation } from './support/broken-plugin.js';
import { kmslab } from './support/cli.js';
import { isolateHome } from './support/env.js';

const home = isolateHome();
const node = `${process.execPath} --import tsx ${packageRoot}/test/support/broken-plugin.ts`;
const artifacts = mkdtempSync(join(tmpdir(), 'kmslab-conformance-artifacts-'));

// Each mutant breaks one rule: conformance must fail that check alone, saying what is wrong.
const FLAGGED_BY: Record<Mutation, [check: string, says: RegExp]> = {
  'status-error': ['status-answers', /Status failed: UNAVAILABLE backend unreachable/],
  'version-v1': ['status-version-accepted', /version "v1": the apiserver answers "expected KMSv2 API version v2/],
  'version-v2beta1': ['status-version-v2', /version "v2beta1": v2beta1 is the pre-GA/],
  'healthz-not-ok': ['status-healthz-ok', /healthz "degraded"/],
  'empty-key-id': ['status-key-id', /keyID is empty/],
  'long-key-id': ['status-key-id', /keyID is 1025 bytes, which exceeds the max size of 1024/],
  'flapping-key-id': ['status-key-id-stable', /Status reported 2 key_ids in a second with no rotation/],
  'invalid-utf8-key-id': ['answers-valid-utf8', /invalid UTF-8 in Status \(key_id\) and Encrypt \(key_id\)/],
  'encrypt-other-key-id': ['encrypt-key-id-matches-status', /Encrypt said key_id "bk-1-\w+-other" while Status says/],
  'big-ciphertext': [
    'encrypt-ciphertext-size',
    /encrypted DEK source is \d+ bytes, which exceeds the max size of 1024/,
  ],
  'bad-annotation-key': ['encrypt-annotations', /annotation key "Not A DNS Name" is not a lower-case RFC 1123/],
  'huge-annotations': ['encrypt-annotations', /total size of annotations is \d+, which exceeds the max size of 32768/],
  'wrong-plaintext': ['roundtrip-seed', /Decrypt returned other bytes than were encrypted/],
  deterministic: ['encrypt-randomized', /Encrypt is deterministic/],
  unauthenticated: ['decrypt-tampered-never-wrong', /decrypted to other bytes: the apiserver would use a wrong DEK/],
  'unchecked-trailer': ['decrypt-tampered-refused', /flipping a bit of byte \d+ of the ciphertext was not noticed/],
  'ignores-key-id': ['decrypt-unknown-key-id', /Decrypt ignored the key_id/],
  'unknown-errors': ['errors-have-codes', /was answered UNKNOWN with no message/],
  'crash-on-empty-plaintext': [
    'roundtrip-sizes',
    /the plugin died during this check \(exit code 2\); its log says: panic: runtime error: index out of range/,
  ],
  slow: ['latency', /Status call \d+ of 30 got no answer within the apiserver's 3 s timeout/],
  'slowish-decrypt': ['latency-fast', /median Encrypt [\d.]+ ms \(aim: < 100\), Decrypt [\d.]+ ms \(aim: < 10\)/],
  serial: ['concurrency', /of 256 concurrent Decrypts failed: RESOURCE_EXHAUSTED/],
  'reuses-key-id': ['rotate-new-key-id', /the rotation went back to key_id "bk-1-\w+", seen before/],
  'rotation-loses-old-keys': [
    'rotate-old-data-decrypts',
    /a DEK seed wrapped before the rotation no longer decrypts: NOT_FOUND/,
  ],
  'disable-ignored': ['disable-refuses', /after the disable hook the key still serves: Decrypt OK, Encrypt OK/],
  'panic-after-disable': [
    'disable-refuses',
    /the plugin died during this check \(exit code 2\); its log says: panic: CKR_KEY_FUNCTION_NOT_PERMITTED/,
  ],
  'disabled-says-ok': [
    'disable-status-not-ok',
    /Status keeps saying "ok" with the same key_id 4s after the disable hook/,
  ],
  'cached-health': [
    'disable-status-not-ok',
    /Status keeps saying "ok" with the same key_id 4s after the disable hook \(only Status polled, on a freshly started plugin\)/,
  ],
  'enable-ignored': ['enable-restores', /did not serve again after the enable hook/],
  'forgets-on-restart': [
    'restart-keeps-data',
    /after a restart the plugin cannot decrypt what it encrypted before: NOT_FOUND/,
  ],
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

const failedOnes = (r: ConformanceReport) => r.checks.filter((c) => c.outcome === 'failed');

// A not-run check must lead back, through the checks it waited for, to the one failure.
function causeOf(report: ConformanceReport, c: CheckResult): string | undefined {
  const byId = new Map(report.checks.map((x) => [x.id, x]));
  let at: CheckResult | undefined = c;
  while (at?.outcome === 'not-run') at = byId.get(at.because!);
  return at?.id;
}

describe('conformance catches each broken plugin by the one check that guards its rule', () => {
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
              artifactsDir: join(artifacts, rule),
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

  test.concurrent.each(MUTATIONS.map((m) => [m, ...FLAGGED_BY[m]] as const))(
    '%s → %s',
    async (rule, checkId, says) => {
      const report = await run(rule);
      const failed = failedOnes(report);
      expect(
        failed.map((c) => c.id),
        JSON.stringify(failed, null, 1),
      ).toEqual([checkId]);
      expect(failed[0]!.message).toMatch(says);
      expect(failed[0]!.message).not.toMatch(/could not run/);
      for (const c of report.checks.filter((x) => x.outcome === 'not-run'))
        expect(causeOf(report, c), `${c.id}: ${c.message}`).toBe(checkId);
      // The backend checks need --cloud (test/cloud-backend.int.test.ts); nothing else is skipped.
      const skipped = report.checks.filter((c) => c.outcome === 'skipped' && c.phase !== 'backend');
      expect(skipped.map((c) => c.id)).toEqual([]);
      if (failed[0]!.level === 'required' || failed[0]!.died) expect(report.outcome).toBe('failed');
      else expect(report.outcome).toBe('passed');
    },
    300_000,
  );

  test('a plugin that panics: named with its exit code, later protocol checks not run, restarted for the lifecycle, its log kept', async () => {
    const report = await run('crash-on-empty-plaintext');
    const died = report.checks.find((c) => c.id === 'roundtrip-sizes')!;
    expect(died.died).toMatchObject({
      how: 'exit code 2',
      logFile: join(artifacts, 'crash-on-empty-plaintext', 'kms-plugin.log'),
    });
    expect(readFileSync(died.died!.logFile!, 'utf8')).toContain('panic: runtime error: index out of range');
    const after = report.checks.slice(report.checks.indexOf(died) + 1);
    expect(after.filter((c) => c.phase === 'protocol').map((c) => c.outcome)).toEqual(
      after.filter((c) => c.phase === 'protocol').map(() => 'not-run'),
    );
    const firstLifecycle = after.find((c) => c.phase === 'lifecycle')!;
    expect(firstLifecycle).toMatchObject({
      outcome: 'passed',
      restarted: expect.stringContaining('died in roundtrip-sizes (exit code 2)'),
    });
  }, 300_000);

  test('a panic after a disable: the key is enabled again, the check built on it is not run, a restart and the rest pass', async () => {
    const report = await run('panic-after-disable');
    const byId = new Map(report.checks.map((c) => [c.id, c]));
    expect(byId.get('disable-status-not-ok')).toMatchObject({ outcome: 'not-run', because: 'disable-refuses' });
    expect(byId.get('enable-restores')).toMatchObject({
      outcome: 'passed',
      restarted: expect.stringContaining('disable-refuses'),
    });
    expect(byId.get('restart-keeps-data')!.outcome).toBe('passed');
    const hooks = readFileSync(join(artifacts, 'panic-after-disable', 'kms-hooks.log'), 'utf8');
    expect(hooks.match(/ disable: /g)!.length).toBe(hooks.match(/ enable: /g)!.length);
  }, 300_000);
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
      '--artifacts',
      join(artifacts, 'fake-kms'),
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
    expect(report.notChecked).toEqual([]);
    expect(String(r.stderr) + String(r.stdout)).toContain(`logs and artifacts go to ${join(artifacts, 'fake-kms')}`);
    expect(existsSync(report.pluginLog!)).toBe(true);
    expect(report.checks.find((c) => c.id === 'disable-status-not-ok')!.note).toMatch(/writes go on indefinitely/);
    expect(report.checks.filter((c) => c.phase === 'scenario').map((c) => [c.id, c.outcome])).toEqual([
      ['scenario-enable-new', 'passed'],
      ['scenario-rotate', 'passed'],
      ['scenario-key-disabled', 'passed'],
      ['scenario-key-disabled-before-migration', 'passed'],
    ]);
  }, 900_000);

  test('without hooks: skipped with the hook each needs, exit 0 but "not fully checked"; --require-all fails', async () => {
    const args = ['conformance', '--scenarios', 'none', '--plugin-cmd', `${node} serve --socket {socket}`];
    const r = await kmslab([...args, '--artifacts', join(artifacts, 'no-hooks'), '--json', `${home}/no-hooks.json`]);
    expect(r.exitCode, String(r.stdout) + String(r.stderr)).toBe(0);
    expect(String(r.stdout)).toMatch(
      /PASS in \d+ s — not fully checked: 4 required checks not run \(needs --rotate-cmd; needs --disable-cmd; needs --enable-cmd\); --require-all makes that a failure/,
    );
    const report = JSON.parse(readFileSync(`${home}/no-hooks.json`, 'utf8')) as ConformanceReport;
    expect(report.checks.find((c) => c.id === 'rotate-new-key-id')).toMatchObject({
      outcome: 'skipped',
      message: 'needs --rotate-cmd',
    });
    // A --plugin-cmd plugin can always be restarted by kmslab itself.
    expect(report.checks.find((c) => c.id === 'restart-keeps-data')!.outcome).toBe('passed');

    const strict = await kmslab([...args, '--require-all', '--artifacts', join(artifacts, 'no-hooks-require-all')]);
    expect(strict.exitCode).toBe(1);
    expect(String(strict.stdout)).toMatch(
      /FAIL in \d+ s — not fully checked: 4 required checks not run .*, and --require-all is set/,
    );
  }, 300_000);

  test('Ctrl-C while a key is disabled: the enable hook still runs before kmslab exits', async () => {
    const marker = join(artifacts, 'interrupted.disabled');
    const cli = execa(
      process.execPath,
      [
        `${packageRoot}/bin/kmslab.js`,
        'conformance',
        '--scenarios',
        'none',
        '--settle-seconds',
        '30',
        '--artifacts',
        join(artifacts, 'interrupted'),
        '--plugin-cmd',
        `${node} serve --socket {socket} --break disabled-says-ok`,
        '--disable-cmd',
        `${node} disable {keyId} && touch ${marker}`,
        '--enable-cmd',
        `${node} enable {keyId}`,
      ],
      { reject: false },
    );
    // disable-refuses disables and re-enables at once; disable-status-not-ok then polls for 30 s with the key off.
    const deadline = Date.now() + 120_000;
    let disables = 0;
    while (Date.now() < deadline) {
      const log = readHooks(join(artifacts, 'interrupted'));
      disables = (log.match(/ disable: /g) ?? []).length;
      if (disables === 2 && existsSync(marker)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(disables).toBe(2);
    cli.kill('SIGINT');
    const r = await cli;
    expect(r.exitCode).toBe(130);
    const hooks = readHooks(join(artifacts, 'interrupted'));
    expect(hooks.match(/ enable: /g)!.length).toBe(2);
    expect(hooks.lastIndexOf(' enable: ')).toBeGreaterThan(hooks.lastIndexOf(' disable: '));
  }, 300_000);
});

// The CLI keeps a run's logs in <--artifacts>/conformance-<time>/.
function readHooks(dir: string): string {
  const run = existsSync(dir) ? readdirSync(dir).find((d) => d.startsWith('conformance-')) : undefined;
  const file = run && join(dir, run, 'kms-hooks.log');
  return file && existsSync(file) ? readFileSync(file, 'utf8') : '';
}
