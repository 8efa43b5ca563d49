import { execFile } from 'node:child_process';
import { readFile, readlink } from 'node:fs/promises';

/** SocketPeer is the process at the other end of a unix socket connection: who called the plugin. */
export interface SocketPeer {
  pid: number;
  /** The process's real uid. */
  uid: number;
  /** Its executable ('' when it cannot be read, e.g. a process of another user). */
  exe: string;
}

/**
 * peerOfFd finds the process connected to our end of a unix socket (file descriptor `fd` of this process), as
 * SO_PEERCRED would: our end's inode from /proc/self/fd, the peer end's inode and its holder from `ss -xp` (netlink
 * sock_diag, which knows both ends; /proc/net/unix does not), then uid and executable from /proc. Node has no
 * SO_PEERCRED. Costs a few tens of milliseconds: look it up once per connection, never per call. Undefined where
 * there is no /proc or no `ss`, or the peer is gone.
 */
export async function peerOfFd(fd: number): Promise<SocketPeer | undefined> {
  try {
    const inode = /^socket:\[(\d+)\]$/.exec(await readlink(`/proc/self/fd/${fd}`))?.[1];
    if (!inode) return undefined;
    const pid = peerPid(await ssUnix(), inode);
    if (pid === undefined) return undefined;
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? NaN);
    const exe = await readlink(`/proc/${pid}/exe`).catch(() => '');
    return Number.isInteger(uid) ? { pid, uid, exe } : undefined;
  } catch {
    return undefined;
  }
}

function ssUnix(): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('ss', ['-xpH'], { timeout: 5_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout) =>
      error ? reject(error) : resolve(stdout),
    ),
  );
}

// One `ss -xpH` line: netid, state, queues, local address and inode, peer address and inode, then the holders.
const LINE = /^\S+\s+\S+\s+\d+\s+\d+\s+\S+\s+(\d+)\s+\S+\s+(\d+)(?:\s+users:\((.*)\))?\s*$/;

/**
 * peerPid reads `ss -xpH` output: our end (local inode `inode`) names the peer's inode; the line whose local inode
 * that is names the process holding it (the first, when a descriptor is shared).
 */
export function peerPid(ss: string, inode: string): number | undefined {
  const ends = new Map<string, { peer: string; users?: string }>();
  for (const line of ss.split('\n')) {
    const m = LINE.exec(line.trim());
    if (m) ends.set(m[1]!, { peer: m[2]!, ...(m[3] ? { users: m[3] } : {}) });
  }
  const peer = ends.get(inode)?.peer;
  const users = peer ? ends.get(peer)?.users : undefined;
  const pid = users ? /pid=(\d+)/.exec(users)?.[1] : undefined;
  return pid ? Number(pid) : undefined;
}
