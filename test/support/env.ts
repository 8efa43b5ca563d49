import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { labNames } from '../../harness/labs/registry.js';
import { stopLab } from '../../harness/labs/stop-lab.js';

/**
 * isolateHome gives this test file its own KMSLAB_HOME, so labs never collide with a developer's own labs or
 * another test file's. Build caches stay shared (KMSLAB_CACHE is untouched). When the file ends, every lab still
 * recorded there is stopped: a test that failed halfway must not leave its processes running.
 */
export function isolateHome(): string {
  const home = mkdtempSync(join(tmpdir(), 'kmslab-test-'));
  process.env.KMSLAB_HOME = home;
  afterAll(async () => {
    process.env.KMSLAB_HOME = home;
    for (const name of await labNames()) await stopLab(name).catch(() => undefined);
  }, 120_000);
  return home;
}

/** uniqueName makes a lab name no other test uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid.toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
}
