import type { Stats } from 'node:fs';
import { constants, open, realpath } from 'node:fs/promises';
import { KmslabError } from './errors.js';

export interface UserFileRules {
  /** What the file is, for the error: a flag (`--encryption-config`). */
  what: string;
  /** The most bytes read; a larger file is refused, naming the limit. */
  maxBytes: number;
}

/**
 * readUserFile reads a small file a user named, and refuses — as a usage error that says what the file is — anything
 * that is not a regular file once links are followed (a device such as /dev/zero or /dev/urandom would be read
 * without end, a FIFO would block forever) or that is larger than `maxBytes`. It checks the file it opened, not the
 * name, so a file swapped between the check and the read cannot slip through, and never reads past the limit.
 */
export async function readUserFile(file: string, rules: UserFileRules): Promise<Buffer> {
  const refuse = async (why: string) => {
    const target = await realpath(file).catch(() => file);
    return new KmslabError('usage', `${rules.what} ${file}${target !== file ? ` (→ ${target})` : ''}: ${why}`);
  };
  // Non-blocking, so opening a FIFO with no writer returns at once (and is then refused as a FIFO).
  const handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY).catch(
    async (error: NodeJS.ErrnoException) => {
      throw await refuse(OPEN_ERRORS[error.code ?? ''] ?? error.message);
    },
  );
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw await refuse(`is ${kindOf(stats)}, not a regular file; give the file itself`);
    if (stats.size > rules.maxBytes)
      throw await refuse(`is ${stats.size} bytes; kmslab reads at most ${rules.maxBytes} bytes here`);
    // One byte more than allowed tells a file that grew since stat from one that fits.
    const buffer = Buffer.alloc(rules.maxBytes + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > rules.maxBytes)
        throw await refuse(`is more than ${rules.maxBytes} bytes; kmslab reads at most that much here`);
    }
    return buffer.subarray(0, length);
  } finally {
    await handle.close();
  }
}

const OPEN_ERRORS: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  ENXIO: 'is a socket or a device without a reader, not a regular file; give the file itself',
  ELOOP: 'symbolic links loop',
};

function kindOf(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a FIFO (named pipe)';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isSocket()) return 'a socket';
  return 'not a regular file';
}
