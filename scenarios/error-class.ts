import { ApiError } from '../harness/lab.js';

/** ScenarioFailure is a claim that turned out false; its message says what was expected and what was seen. */
export class ScenarioFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScenarioFailure';
  }
}

// The KMS failure modes the apiserver reports, by the words of its messages.
const KMS_ERRORS: Array<[RegExp, string]> = [
  [/expired at/, 'kms-write-key-expired'],
  [/unexpected nil transformer/, 'kms-not-primed'],
  [/failed to decrypt DEK/, 'kms-decrypt-failed'],
  [/failed to encrypt/, 'kms-encrypt-failed'],
];

/**
 * errorClass names the kind of a failure, stable across backends and runs: the differential tests compare
 * these, not message texts (which carry times and hashes).
 */
export function errorClass(error: unknown): string {
  if (error instanceof ApiError) {
    for (const [pattern, name] of KMS_ERRORS) if (pattern.test(error.message)) return name;
    return `http-${error.status}`;
  }
  if (error instanceof ScenarioFailure) return 'assertion';
  if (error instanceof Error && /timed out/.test(error.message)) return 'timeout';
  return 'error';
}
