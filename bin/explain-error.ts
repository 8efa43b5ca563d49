import { ControlRequestError, ControlUnreachableError } from '../fake-kms/control-client.js';
import { KmslabError } from '../harness/common/errors.js';

const WRITE_ERRORS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
};

/**
 * explainError turns any error into one line for a person and an exit code: 2 when the request was wrong (usage,
 * a value the plugin refused, a name that does not exist), 1 when something failed. Stack traces only with
 * KMSLAB_DEBUG=1: they help whoever debugs kmslab, not whoever uses it.
 */
export function explainError(error: unknown): { message: string; exitCode: number } {
  if (error instanceof KmslabError) return { message: error.message, exitCode: error.exitCode };
  if (error instanceof ControlRequestError) {
    const refused = error.status >= 400 && error.status < 500;
    return {
      message: refused ? `the fake KMS refused the request: ${error.message}` : `the fake KMS failed: ${error.message}`,
      exitCode: refused ? 2 : 1,
    };
  }
  if (error instanceof ControlUnreachableError) return { message: error.message, exitCode: 1 };
  const e = error as NodeJS.ErrnoException | undefined;
  if (e?.code && e.path) {
    const why = WRITE_ERRORS[e.code];
    return {
      message: why
        ? `cannot use ${e.path}: ${why} (${e.code}); kmslab keeps labs under $KMSLAB_HOME (default ~/.kmslab) and builds under $KMSLAB_CACHE (default ~/.cache/kmslab): point them at a writable directory`
        : `${e.path}: ${e.message}`,
      exitCode: 1,
    };
  }
  const message = (e as Error | undefined)?.message ?? String(error);
  return { message: process.env.KMSLAB_DEBUG ? ((e as Error)?.stack ?? message) : message, exitCode: 1 };
}
