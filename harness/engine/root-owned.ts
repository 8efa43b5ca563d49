import { lstat, realpath } from 'node:fs/promises';
import { dirname } from 'node:path';
import { KmslabError } from '../common/errors.js';

/** What lstat says about one path, as much as the rule needs. */
export interface PathFacts {
  uid: number;
  mode: number;
  kind: 'file' | 'directory' | 'symlink' | 'other';
}

/** Inspect is lstat, narrowed (and replaceable in tests); undefined when nothing is there. */
export type Inspect = (path: string) => Promise<PathFacts | undefined>;

export const lstatFacts: Inspect = async (path) => {
  const s = await lstat(path).catch(() => undefined);
  if (!s) return undefined;
  const kind = s.isFile() ? 'file' : s.isDirectory() ? 'directory' : s.isSymbolicLink() ? 'symlink' : 'other';
  return { uid: s.uid, mode: s.mode & 0o7777, kind };
};

/**
 * whyNotRootOwned says how a user other than root could plant or replace what is at `path`, or undefined when
 * only root can: the path and every directory above it are owned by root, none is writable by its group or by
 * others, none is a symlink, and the path is a regular file (`expect: 'file'`) or a directory. Pass a path with
 * its symlinks resolved (rootOwnedPath does).
 */
export async function whyNotRootOwned(
  path: string,
  expect: 'file' | 'directory',
  inspect: Inspect = lstatFacts,
): Promise<string | undefined> {
  for (let p = path, first = true; ; p = dirname(p), first = false) {
    const facts = await inspect(p);
    if (!facts) return `${p} does not exist`;
    const want = first ? expect : 'directory';
    if (facts.kind !== want) return `${p} is a ${facts.kind}, not a ${want}`;
    if (facts.uid !== 0) return `${p} is owned by uid ${facts.uid}, not root`;
    if ((facts.mode & 0o022) !== 0) {
      const who = facts.mode & 0o002 ? 'everyone' : 'its group';
      return `${p} is writable by ${who} (mode ${(facts.mode & 0o7777).toString(8).padStart(4, '0')})`;
    }
    if (p === dirname(p)) return undefined;
  }
}

/**
 * rootOwnedPath resolves `path`'s symlinks and checks the result with whyNotRootOwned. It returns the resolved
 * path, which is what should be handed to root-run programs (a symlink elsewhere could be repointed later), and
 * throws, naming `what` and the offending path, when a non-root user could plant or replace it.
 */
export async function rootOwnedPath(path: string, expect: 'file' | 'directory', what: string): Promise<string> {
  const real = await realpath(path).catch(() => path);
  const why = await whyNotRootOwned(real, expect);
  if (why) {
    throw new KmslabError(
      'failed',
      `${what} must be where only root can write it (the root-run dockerd executes what it finds there): ${why}. ` +
        'Fix the ownership and mode (chown root:root, chmod go-w) or choose another location.',
    );
  }
  return real;
}
