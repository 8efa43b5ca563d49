import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** cacheRoot holds per-machine build caches (binaries, generated Go modules): `$KMSLAB_CACHE`, else `$XDG_CACHE_HOME/kmslab`, else `~/.cache/kmslab`. */
export function cacheRoot(): string {
  return process.env.KMSLAB_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'kmslab');
}

/** kmslabHome holds the registry of labs and their private dirs: `$KMSLAB_HOME`, else `~/.kmslab`. */
export function kmslabHome(): string {
  return process.env.KMSLAB_HOME ?? join(homedir(), '.kmslab');
}

/** rootOf is the checkout root two levels above a module URL, as a file path (spaces and all, not %20). */
export function rootOf(moduleUrl: string): string {
  return fileURLToPath(new URL('../../', moduleUrl)).replace(/\/$/, '');
}

/** repoRoot is this checkout's root (the harness is run from source with tsx). */
export const repoRoot = rootOf(import.meta.url);
