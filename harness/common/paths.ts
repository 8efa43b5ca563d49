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

/**
 * packageRoot is where kmslab's files live: the checkout when run from source, the installed package when run
 * compiled (modules then sit one level deeper, under dist/, while assets such as the Go modules stay at the top).
 */
export const packageRoot = rootOf(import.meta.url).replace(/\/dist$/, '');
