import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * isolateHome gives this test file its own KMSLAB_HOME, so labs never collide with a developer's own labs or
 * another test file's. Build caches stay shared (KMSLAB_CACHE is untouched).
 */
export function isolateHome(): string {
  const home = mkdtempSync(join(tmpdir(), 'kmslab-test-'));
  process.env.KMSLAB_HOME = home;
  return home;
}

/** uniqueName makes a lab name no other test uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid.toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
}
