import { readFileSync } from 'node:fs';
import { status as Code } from '@grpc/grpc-js';
import { describe, expect, test } from 'vitest';
import { KmsCallError } from '../fake-kms/index.js';
import { runChecks, type CheckResult, type CheckRunOptions } from './check-runner.js';
import type { TimedAnswer } from './backend-checks.js';
import { ALL_CHECKS, BACKEND_CHECKS, HOOK_CHECKS } from './checks.js';
import { MUTANTS, PluginDouble, type Mutation } from './plugin-double.test-helper.js';
import { quantile } from './protocol-checks.js';

const run = (d: PluginDouble, options: Partial<CheckRunOptions> = {}) =>
  runChecks(d, { lacks: () => undefined, settleMs: 4_000, clock: d.clock, backend: d.backend, ...options });

const byId = (results: CheckResult[]) => new Map(results.map((r) => [r.id, r]));
const check = (id: string) => ALL_CHECKS.find((c) => c.id === id)!;
const only = (...ids: string[]): CheckRunOptions['phases'] => [['lifecycle', ids.map(check)]];

test('docs/conformance.md lists every check with its level, and no check that does not exist', () => {
  const doc = readFileSync(new URL('../docs/conformance.md', import.meta.url), 'utf8');
  const rows = new Map(
    [...doc.matchAll(/^\| `([a-z0-9-]+)` \| (required|recommended) \|/gm)].map((m) => [m[1]!, m[2]!]),
  );
  for (const c of ALL_CHECKS) expect(rows.get(c.id), c.id).toBe(c.level);
  const ids = new Set(ALL_CHECKS.map((c) => c.id));
  for (const id of rows.keys())
    if (!id.startsWith('scenario-')) expect(ids.has(id), `${id} is documented but no check`).toBe(true);
});

test('every check builds only on checks that run before it', () => {
  const seen = new Set<string>();
  for (const c of ALL_CHECKS) {
    for (const dep of c.after ?? []) expect(seen.has(dep), `${c.id} after ${dep}`).toBe(true);
    seen.add(c.id);
  }
});

describe('each check against an in-process plugin: passes on good answers, fails on the bad ones', () => {
  test('a correct plugin passes every check', async () => {
    const results = await run(new PluginDouble());
    expect(results.filter((r) => r.outcome !== 'passed')).toEqual([]);
    expect(results.map((r) => r.id)).toEqual(ALL_CHECKS.map((c) => c.id));
  });

  test('every check has a mutant that breaks it', () => {
    const broken = new Set(Object.values(MUTANTS).map((m) => m.breaks));
    expect(ALL_CHECKS.map((c) => c.id).filter((id) => !broken.has(id))).toEqual([]);
  });

  test.each(Object.entries(MUTANTS))('%s fails %s alone, for its own reason', async (name, { breaks, mutation }) => {
    const results = await run(new PluginDouble(mutation));
    const failed = results.filter((r) => r.outcome === 'failed');
    expect(
      failed.map((r) => r.id),
      JSON.stringify(failed),
    ).toEqual([breaks]);
    expect(failed[0]!.message).not.toMatch(/could not run|not run/);
    // Whatever did not pass was kept from running by that failure (directly or through another check).
    const results_ = byId(results);
    for (const r of results.filter((r) => r.outcome === 'not-run')) {
      let cause = results_.get(r.because!);
      while (cause?.outcome === 'not-run') cause = results_.get(cause.because!);
      expect(cause?.id, `${name}: ${r.id} not run because ${r.because}`).toBe(breaks);
    }
    expect(results.filter((r) => r.outcome === 'skipped')).toEqual([]);
  });
});

describe('a plugin that dies', () => {
  test('the check it died in names the death; later protocol checks are not run; lifecycle checks restart it', async () => {
    const d = new PluginDouble(MUTANTS['crash-on-empty-plaintext']!.mutation);
    const r = byId(await run(d));
    const died = r.get('roundtrip-sizes')!;
    expect(died).toMatchObject({ outcome: 'failed', died: { how: 'exit code 2' } });
    expect(died.message).toContain('the plugin died during this check (exit code 2)');
    expect(died.message).toContain('panic: runtime error: index out of range');
    for (const id of ['decrypt-tampered-never-wrong', 'latency', 'concurrency'])
      expect(r.get(id)).toMatchObject({ outcome: 'not-run', because: 'roundtrip-sizes' });
    expect(r.get('rotate-new-key-id')).toMatchObject({
      outcome: 'passed',
      restarted: expect.stringContaining('died in roundtrip-sizes'),
    });
    expect(HOOK_CHECKS.map((c) => r.get(c.id)!.outcome)).toEqual(HOOK_CHECKS.map(() => 'passed'));
  });

  test('a panic after a disable: named in that check, the key enabled again, the check built on it not run, then a restart and on', async () => {
    const d = new PluginDouble(MUTANTS['panic-after-disable']!.mutation);
    const r = byId(await run(d));
    expect(r.get('disable-refuses')!.message).toMatch(
      /died during this check \(exit code 2\).*CKR_KEY_FUNCTION_NOT_PERMITTED/,
    );
    expect(d.hooks.filter(([h]) => h === 'disable').length).toBe(d.hooks.filter(([h]) => h === 'enable').length);
    expect(r.get('disable-status-not-ok')).toMatchObject({ outcome: 'not-run', because: 'disable-refuses' });
    expect(r.get('enable-restores')).toMatchObject({
      outcome: 'passed',
      restarted: expect.stringContaining('died in disable-refuses (exit code 2)'),
    });
    expect(r.get('restart-keeps-data')!.outcome).toBe('passed');
  });

  test('a plugin whose exit is noticed only after its check ended is named by the next check, before it starts', async () => {
    let dying = false;
    const d = new PluginDouble({
      // The refusal of an empty plaintext (the last call of roundtrip-sizes) goes out; the process is on its way out.
      encrypt: (_, req, next) => next(req).finally(() => (dying ||= !req.plaintext.length)),
    });
    // The first look after that check still sees it running; the next sees it gone.
    const death = d.death.bind(d);
    d.death = async () => {
      if (dying && !d.dead) {
        d.dead = { how: 'SIGSEGV', lastLines: ['fatal error: unexpected signal'] };
        return undefined;
      }
      return death();
    };
    const r = byId(await run(d));
    expect(r.get('roundtrip-sizes')).toMatchObject({ outcome: 'passed' });
    expect(r.get('decrypt-tampered-never-wrong')).toMatchObject({ outcome: 'failed', died: { how: 'SIGSEGV' } });
    expect(r.get('decrypt-tampered-never-wrong')!.message).toContain('had died before this check began (SIGSEGV)');
    expect(r.get('latency')).toMatchObject({ outcome: 'not-run', because: 'decrypt-tampered-never-wrong' });
  });

  test('when kmslab cannot restart it, the lifecycle checks are not run and say so', async () => {
    const d = new PluginDouble(MUTANTS['crash-on-empty-plaintext']!.mutation, { canRestart: false });
    const results = await run(d, { lacks: (c) => (c === 'restart' ? 'needs --restart-cmd' : undefined) });
    const lifecycle = results.filter((r) => r.phase === 'lifecycle' && r.id !== 'restart-keeps-data');
    expect(lifecycle.map((r) => r.outcome)).toEqual(lifecycle.map(() => 'not-run'));
    expect(lifecycle[0]!.message).toContain('cannot restart it (--restart-cmd)');
  });
});

describe('lifecycle checks do not depend on order or on caches', () => {
  // Like aws-encryption-provider: health is checked at most every 30 s, and a failed call records its error at once.
  const cachedHealth: Mutation = {
    ...MUTANTS['cached-health']!.mutation,
    encrypt: (d, req, next) =>
      next(req).catch((e: Error) => {
        d.memory.set('health', { at: d.clock.now(), healthz: `err: ${e.message}` });
        throw e;
      }),
  };

  test('Status-after-disable gives one verdict, whether it runs alone or right after disable-refuses', async () => {
    for (const ids of [['disable-status-not-ok'], ['disable-refuses', 'disable-status-not-ok']]) {
      const r = byId(await run(new PluginDouble(cachedHealth), { phases: only(...ids) }));
      expect(r.get('disable-status-not-ok'), ids.join(',')).toMatchObject({
        outcome: 'failed',
        evidence: { style: 'ok', freshProcess: true },
      });
    }
  });

  test('with a settle time past the cache it passes, and reports how long the change took to show', async () => {
    const r = byId(
      await run(new PluginDouble(cachedHealth), { settleMs: 60_000, phases: only('disable-status-not-ok') }),
    );
    const c = r.get('disable-status-not-ok')!;
    expect(c.outcome).toBe('passed');
    expect(c.evidence!.shownAfterMs).toBeGreaterThanOrEqual(29_000);
    expect(c.evidence!.shownAfterMs).toBeLessThanOrEqual(31_000);
    expect(c.note).toMatch(/after the disable hook/);
  });

  test.each([
    ['not-ok', {}, /writes go on indefinitely/],
    [
      'fails',
      {
        status: async (d, next) =>
          d.keyring.primary.state === 'enabled'
            ? next()
            : Promise.reject(new KmsCallError(Code.FAILED_PRECONDITION, 'key disabled')),
      } satisfies Mutation,
      /writes fail 3 min after the last good Status/,
    ],
    [
      'fails',
      {
        status: async (d, next) => {
          if (d.keyring.primary.state !== 'enabled') d.invalidUtf8.push({ method: 'Status', fields: ['healthz'] });
          return next();
        },
      } satisfies Mutation,
      /invalid UTF-8/,
    ],
    [
      'other-key-id',
      {
        status: async (d, next) => ({
          ...(await next()),
          keyId: d.keyring.primary.state === 'enabled' ? d.keyring.primary.keyId : 'fallback-key',
        }),
      } satisfies Mutation,
      /tries to rotate/,
    ],
  ] as const)(
    'a disabled key whose Status %s: the check says so, and what it does to writes',
    async (style, mutation, says) => {
      const r = byId(await run(new PluginDouble(mutation), { phases: only('disable-status-not-ok') }));
      const c = r.get('disable-status-not-ok')!;
      expect(c).toMatchObject({ outcome: 'passed', evidence: { style } });
      expect(`${c.note}`).toMatch(says);
    },
  );

  test('an interrupted check still enables the key it disabled', async () => {
    const stop = new AbortController();
    const d = new PluginDouble({
      hook: (_, name, _keyId, next) => {
        next();
        if (name === 'disable') stop.abort();
      },
    });
    const results = await run(d, { signal: stop.signal, phases: only('disable-status-not-ok', 'enable-restores') });
    expect(results).toEqual([
      expect.objectContaining({ id: 'disable-status-not-ok', outcome: 'not-run', because: 'interrupted' }),
    ]);
    expect(d.hooks.map(([h]) => h)).toEqual(['disable', 'enable']);
    expect(d.keyring.primary.state).toBe('enabled');
  });

  test('a failing enable hook is blamed on enable-restores, not on the check that found the key still disabled', async () => {
    const r = byId(await run(new PluginDouble(MUTANTS['enable-ignored']!.mutation)));
    expect(r.get('disable-status-not-ok')).toMatchObject({ outcome: 'not-run', because: 'enable-restores' });
    expect(r.get('enable-restores')!.message).toContain('did not serve again after the enable hook');
  });
});

describe('latency', () => {
  test('latency-fast computes the median its title names: a few slow calls do not fail it', async () => {
    let n = 0;
    const d = new PluginDouble({
      decrypt: async (dd, req, next) => {
        await dd.clock.sleep(n++ % 5 === 0 ? 60 : 2); // every fifth Decrypt is slow: p99 60 ms, median 2 ms
        return next(req);
      },
    });
    const r = byId(await run(d, { phases: only('latency-fast') }));
    expect(r.get('latency-fast')).toMatchObject({ outcome: 'passed', evidence: { medianMs: { Decrypt: 2 } } });
  });

  test('latency fails only a call at the apiserver timeout of 3 s, not one of 1.1 s', async () => {
    // The tenth Encrypt is slow, the others instant.
    const slow = (ms: number): Mutation => {
      let n = 0;
      return {
        encrypt: async (d, req, next) => {
          if (++n === 10) await d.clock.sleep(ms);
          return next(req);
        },
      };
    };
    expect(byId(await run(new PluginDouble(slow(1_100)), { phases: only('latency') })).get('latency')!.outcome).toBe(
      'passed',
    );
    const r = byId(await run(new PluginDouble(slow(3_100)), { phases: only('latency') })).get('latency')!;
    expect(r.outcome).toBe('failed');
    expect(r.message).toMatch(/Encrypt call \d+ of 30 took 3100 ms/);
  });

  test('quantile interpolates between samples', () => {
    expect(quantile([5, 1, 3], 0.5)).toBe(3);
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantile([1, 2], 0.99)).toBeCloseTo(1.99);
  });
});

describe('backend checks (the cloud behind the plugin)', () => {
  const backendIds = BACKEND_CHECKS.map((c) => c.id);

  test('a plugin that fails fast and recovers passes each, with what it answered and when it came back', async () => {
    const r = byId(await run(new PluginDouble(), { phases: [['backend', [...BACKEND_CHECKS]]] }));
    for (const id of backendIds) expect(r.get(id), id).toMatchObject({ outcome: 'passed', phase: 'backend' });
    const hang = (r.get('backend-outage')!.evidence as Record<string, { answers: TimedAnswer[] }>).hang!;
    expect(hang.answers.map((a) => [a.method, a.code, a.ms])).toEqual([
      ['Status', 'DEADLINE_EXCEEDED', 1000],
      ['Encrypt', 'DEADLINE_EXCEEDED', 1000],
      ['Decrypt', 'DEADLINE_EXCEEDED', 1000],
    ]);
    expect(r.get('backend-credentials-expired')!.evidence).toMatchObject({
      'expired-credentials': { statusReported: true, recoveredAfterMs: 0 },
    });
  });

  test('a plugin whose call waits on its cloud past the deadline fails, naming the call and the time', async () => {
    const r = byId(
      await run(new PluginDouble(MUTANTS['waits-on-hanging-cloud']!.mutation), { phases: only('backend-outage') }),
    );
    expect(r.get('backend-outage')!.message).toMatch(
      /with the cloud hanging, Status answered after 4\.5s \(DEADLINE_EXCEEDED\): at or past the apiserver's 3s deadline/,
    );
  });

  test('every call served while the cloud is said to fail: the failure never reached the plugin, not a pass', async () => {
    const d = new PluginDouble({ cloud: async () => undefined });
    const r = byId(await run(d, { phases: [['backend', [...BACKEND_CHECKS]]] }));
    for (const id of backendIds)
      expect(r.get(id)!.message, id).toMatch(/every call succeeded .* the failure never reached the plugin's calls/);
  });

  test('Status saying "ok" while its cloud fails passes the deadline rule, with a note saying what it hides', async () => {
    const quiet = new PluginDouble({ cloud: async (_, method, next) => (method === 'Status' ? undefined : next()) });
    const r = byId(await run(quiet, { phases: only('backend-throttled') }));
    expect(r.get('backend-throttled')).toMatchObject({ outcome: 'passed' });
    expect(r.get('backend-throttled')!.note).toMatch(/Status still said "ok" with the cloud throttling every request/);
  });

  test('without a cloud the backend checks are skipped, saying what they need; the cloud is healed on every way out', async () => {
    const none = byId(
      await run(new PluginDouble(), {
        lacks: (c) => (c.startsWith('cloud-') ? 'needs a cloud KMS behind the plugin: --cloud alibaba|aws' : undefined),
      }),
    );
    for (const id of backendIds) expect(none.get(id)).toMatchObject({ outcome: 'skipped', message: /--cloud/ });
    const d = new PluginDouble(MUTANTS['waits-on-hanging-cloud']!.mutation);
    await run(d, { phases: only('backend-outage') });
    expect(d.cloudFailure).toBeUndefined();
  });
});
