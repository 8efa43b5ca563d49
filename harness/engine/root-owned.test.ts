import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, expect, test } from 'vitest';
import { rootOwnedPath, whyNotRootOwned, type PathFacts } from './root-owned.js';

// A tree described by hand: what lstat would say about each path.
const tree = (facts: Record<string, Partial<PathFacts>>) => async (path: string) => {
  const f = facts[path];
  return f ? { uid: 0, mode: 0o755, kind: 'directory' as const, ...f } : undefined;
};
const GOOD = {
  '/': {},
  '/var': {},
  '/var/lib': {},
  '/var/lib/kmslab': {},
  '/var/lib/kmslab/bin': {},
  '/var/lib/kmslab/bin/p': { kind: 'file' as const },
};

test('a root-owned file under root-owned directories no one else can write passes', async () => {
  expect(await whyNotRootOwned('/var/lib/kmslab/bin/p', 'file', tree(GOOD))).toBeUndefined();
  expect(await whyNotRootOwned('/var/lib/kmslab/bin', 'directory', tree(GOOD))).toBeUndefined();
});

test('anything a non-root user could replace, anywhere on the way up, is named', async () => {
  const cases: Array<[string, Partial<PathFacts>, RegExp]> = [
    ['/var/lib/kmslab/bin/p', { kind: 'file', uid: 1000 }, /\/var\/lib\/kmslab\/bin\/p is owned by uid 1000, not root/],
    ['/var/lib/kmslab/bin/p', { kind: 'file', mode: 0o775 }, /bin\/p is writable by its group \(mode 0775\)/],
    ['/var/lib/kmslab/bin/p', { kind: 'file', mode: 0o757 }, /bin\/p is writable by everyone \(mode 0757\)/],
    ['/var/lib/kmslab/bin/p', { kind: 'symlink' }, /bin\/p is a symlink, not a file/],
    ['/var/lib/kmslab/bin/p', { kind: 'directory' }, /bin\/p is a directory, not a file/],
    ['/var/lib/kmslab/bin', { uid: 1000 }, /\/var\/lib\/kmslab\/bin is owned by uid 1000/],
    ['/var/lib/kmslab', { mode: 0o1777 }, /\/var\/lib\/kmslab is writable by everyone \(mode 1777\)/],
    ['/var/lib', { mode: 0o2775 }, /\/var\/lib is writable by its group/],
    ['/var', { kind: 'symlink' }, /\/var is a symlink, not a directory/],
    ['/', { uid: 5 }, /^\/ is owned by uid 5/],
  ];
  for (const [path, change, why] of cases) {
    const facts = { ...GOOD, [path]: { ...GOOD[path as keyof typeof GOOD], ...change } };
    expect(await whyNotRootOwned('/var/lib/kmslab/bin/p', 'file', tree(facts)), path).toMatch(why);
  }
  expect(await whyNotRootOwned('/var/lib/kmslab/bin/q', 'file', tree(GOOD))).toMatch(/bin\/q does not exist/);
});

test('the rule, for any owner and mode at any level: it passes exactly when all are root and none g/o-writable', async () => {
  const levels = Object.keys(GOOD);
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.record({ uid: fc.constantFrom(0, 0, 1000), mode: fc.integer({ min: 0, max: 0o7777 }) }), {
        minLength: levels.length,
        maxLength: levels.length,
      }),
      async (chosen) => {
        const facts = Object.fromEntries(
          levels.map((p, i) => [p, { ...GOOD[p as keyof typeof GOOD], ...chosen[i] }]),
        ) as Record<string, Partial<PathFacts>>;
        const ok = chosen.every((c) => c.uid === 0 && (c.mode & 0o022) === 0);
        expect(await whyNotRootOwned('/var/lib/kmslab/bin/p', 'file', tree(facts))).toEqual(
          ok ? undefined : expect.any(String),
        );
      },
    ),
  );
});

const scratch = mkdtempSync(join(tmpdir(), 'kmslab-root-owned-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

test('on the real filesystem: a system program passes; anything under the world-writable temp dir does not', async () => {
  const env = '/usr/bin/env';
  if (statSync(env).uid === 0) expect(await rootOwnedPath(env, 'file', 'env')).toBe(env);
  const planted = join(scratch, 'dockerd');
  writeFileSync(planted, '#!/bin/sh\n', { mode: 0o755 });
  await expect(rootOwnedPath(planted, 'file', 'the plugin')).rejects.toThrow(
    /the plugin must be where only root can write it .*: .* (is writable by everyone \(mode 1777\)|is owned by uid \d+, not root)\. Fix the ownership and mode/,
  );
});
