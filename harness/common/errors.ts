/**
 * KmslabError is an error a user can act on: `code` names the kind, the message says what was wrong and
 * what to do. The CLI prints the message alone and exits 2 for usage errors, 1 otherwise.
 */
export class KmslabError extends Error {
  constructor(
    readonly code: 'usage' | 'missing-binary' | 'build-failed' | 'start-failed' | 'not-found' | 'conflict' | 'failed',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'KmslabError';
  }

  get exitCode(): number {
    return this.code === 'usage' ||
      this.code === 'missing-binary' ||
      this.code === 'conflict' ||
      this.code === 'not-found'
      ? 2
      : 1;
  }
}
