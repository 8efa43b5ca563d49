import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import lockfile from 'proper-lockfile';
import { KmslabError } from './errors.js';

const STALE_MS = 30_000;

/**
 * waitForLock takes the inter-process lock `<path>.lock` (proper-lockfile: an atomic mkdir, kept fresh while held,
 * taken over once its holder stops refreshing it, on any platform), waiting up to `waitMs` for a holder to finish.
 * Returns the release function.
 */
export async function waitForLock(path: string, what: string, waitMs = 60 * 60_000): Promise<() => Promise<void>> {
  await mkdir(dirname(path), { recursive: true });
  try {
    return await lockfile.lock(path, {
      realpath: false,
      stale: STALE_MS,
      retries: { retries: Math.ceil(waitMs / 1000), factor: 1, minTimeout: 1000, maxTimeout: 1000 },
      onCompromised: () => undefined, // a holder that lost its lock keeps going; the next taker is safe
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOCKED') {
      throw new KmslabError(
        'conflict',
        `${what} is held by another kmslab process (lock ${path}.lock); try again later`,
      );
    }
    throw error;
  }
}

/** tryLock takes the lock at once or throws a 'conflict' KmslabError: for short critical sections. */
export function tryLock(path: string, what: string): Promise<() => Promise<void>> {
  return waitForLock(path, what, 0);
}
