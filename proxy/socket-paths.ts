import { existsSync, lstatSync, readlinkSync, realpathSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

/**
 * The longest unix socket path the kernel takes: `sun_path` is 108 bytes on Linux (104 on macOS), with no room
 * needed for a terminating NUL. Node does not refuse a longer one: it binds the path cut to this length, so a
 * socket appears somewhere else, and the chmod of the path asked for then fails with ENOENT.
 */
export const UNIX_SOCKET_PATH_MAX = process.platform === 'darwin' ? 104 : 108;

/** UnusableSocketPaths: the proxy's sockets were refused before anything was created; the message says why. */
export class UnusableSocketPaths extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnusableSocketPaths';
  }
}

/**
 * checkProxySockets refuses, before anything exists on disk, socket paths the proxy cannot serve on: any longer than
 * the kernel takes, and an upstream that is the proxy's own socket or control socket — by the same path, another
 * spelling of it, or a symlink (every call would come back to the proxy and loop until its deadline).
 */
export function checkProxySockets(sockets: { socketPath: string; upstreamSocket: string; controlSocketPath?: string }) {
  const named: Array<[string, string | undefined]> = [
    ['--socket', sockets.socketPath],
    ['--upstream', sockets.upstreamSocket],
    ['--control', sockets.controlSocketPath],
  ];
  for (const [flag, path] of named) {
    const bytes = path === undefined ? 0 : Buffer.byteLength(path);
    if (bytes > UNIX_SOCKET_PATH_MAX) {
      throw new UnusableSocketPaths(
        `${flag} ${path} is ${bytes} bytes; a unix socket path can have at most ${UNIX_SOCKET_PATH_MAX}: use a shorter directory (e.g. under /tmp or $XDG_RUNTIME_DIR)`,
      );
    }
  }
  // The proxy replaces whatever is at its own paths before it binds; the upstream is dialled, links followed.
  const upstream = wherePathLeads(sockets.upstreamSocket, true);
  for (const [flag, path] of [named[0]!, named[2]!]) {
    if (path === undefined) continue;
    if (wherePathLeads(path, false) === upstream) {
      throw new UnusableSocketPaths(
        `--upstream ${sockets.upstreamSocket} is the proxy's own ${flag === '--socket' ? 'socket' : 'control socket'} (${path}): the proxy would forward every call to itself. Give --upstream the socket your plugin serves on`,
      );
    }
  }
  if (
    sockets.controlSocketPath &&
    wherePathLeads(sockets.controlSocketPath, false) === wherePathLeads(sockets.socketPath, false)
  ) {
    throw new UnusableSocketPaths(
      `--control and --socket are the same path (${sockets.socketPath}): give each its own`,
    );
  }
}

// The canonical path a name leads to: its directory with every link resolved (parts that do not exist yet kept as
// written), and, with `followLast`, the last component followed through symlinks too, even dangling ones.
function wherePathLeads(path: string, followLast: boolean, depth = 0): string {
  const full = join(existingRealDir(dirname(resolve(path))), basename(path));
  if (!followLast || depth > 32) return full;
  try {
    if (lstatSync(full).isSymbolicLink())
      return wherePathLeads(resolve(dirname(full), readlinkSync(full)), true, depth + 1);
  } catch {
    // nothing there yet
  }
  return full;
}

function existingRealDir(dir: string): string {
  if (existsSync(dir)) return realpathSync(dir);
  const parent = dirname(dir);
  return parent === dir ? dir : join(existingRealDir(parent), basename(dir));
}
