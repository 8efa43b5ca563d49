import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { goEnv, moduleProxy } from './go-env.js';

test('GOPROXY keeps its proxies and loses every direct fallback', () => {
  expect(moduleProxy('https://proxy.golang.org,direct')).toBe('https://proxy.golang.org');
  expect(moduleProxy('https://a.example|https://b.example|direct')).toBe('https://a.example,https://b.example');
  expect(moduleProxy('direct')).toBe('https://proxy.golang.org');
  expect(moduleProxy(undefined)).toBe('https://proxy.golang.org');
  expect(moduleProxy('https://corp.example/go')).toBe('https://corp.example/go');
  expect(moduleProxy('https://corp.example,off')).toBe('off');
});

test("a user's `go env -w GOPRIVATE=*` cannot send kmslab's builds around the proxy", () => {
  const dir = mkdtempSync(join(tmpdir(), 'goenv-'));
  try {
    const userEnv = { ...process.env, GOENV: join(dir, 'env') };
    execFileSync('go', ['env', '-w', 'GOPRIVATE=*', 'GONOPROXY=*', 'GOINSECURE=*'], { env: userEnv });
    const seen = (env: NodeJS.ProcessEnv) =>
      execFileSync('go', ['env', 'GOPRIVATE', 'GONOPROXY', 'GOINSECURE'], { env, encoding: 'utf8' })
        .replace(/\n$/, '')
        .split('\n');
    expect(seen(userEnv)).toEqual(['*', '*', '*']); // the file is read when nothing overrides it
    expect(seen({ ...userEnv, ...goEnv() })).toEqual(['', '', '']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
