import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, expect, test } from 'vitest';
import { installEngineProgram, systemCommand, systemPath } from './engine-programs.js';
import { whyNotRootOwned } from './root-owned.js';

const scratch = mkdtempSync(join(tmpdir(), 'kmslab-engine-dir-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const saved = process.env.KMSLAB_ENGINE_DIR;
afterEach(() => {
  if (saved === undefined) delete process.env.KMSLAB_ENGINE_DIR;
  else process.env.KMSLAB_ENGINE_DIR = saved;
});

test('no program is built or installed where a non-root user could replace it, and nothing is created there', async () => {
  process.env.KMSLAB_ENGINE_DIR = join(scratch, 'engine');
  await expect(installEngineProgram('no-pull', 'kmslab-no-pull')).rejects.toThrow(
    /kmslab's engine directory \(.*\/engine\) must be where only root can write it .*: \/tmp.* (writable by everyone|owned by uid)/,
  );
  expect(existsSync(join(scratch, 'engine'))).toBe(false);
});

test('dockerd’s PATH holds only system directories only root can write, and its helpers are found there', async () => {
  const path = await systemPath();
  expect(path.split(':').length).toBeGreaterThan(0);
  for (const dir of path.split(':')) {
    expect(dir).toMatch(/^\/(usr\/)?(local\/)?s?bin$/);
    expect(await whyNotRootOwned(dir, 'directory')).toBeUndefined();
  }
  const sh = await systemCommand('sh', path);
  expect(sh).toMatch(/^\/usr\/bin\/|^\/bin\//);
  expect(await systemCommand('surely-not-a-command-kmslab', path)).toBeUndefined();
});
