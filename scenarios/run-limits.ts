import { formatDuration } from '../harness/common/duration.js';
import { KmslabError } from '../harness/common/errors.js';

/**
 * RUN_LIMITS bound what one run may ask for, so that a typo cannot fill the machine. Secrets average ~24 KB (16 B –
 * 90 KB) and etcd keeps every revision: 5,000 Secrets are ~120 MB a copy, in the sim's memory or in etcd.
 */
export const RUN_LIMITS = {
  secrets: { min: 1, max: 5_000, what: 'Secrets per scenario' },
  waitTimeoutMs: { min: 1_000, max: 3_600_000, what: 'a wait', duration: true },
  /** Labs at once: each local lab is ~400 MB of processes. */
  parallel: { min: 1, max: 16, what: 'labs at once' },
  /** How long one step, or the scenario's code between two steps, may run before the scenario fails. */
  stepTimeoutMs: { min: 1_000, max: 86_400_000, what: 'a step', duration: true },
} as const;

/** DEFAULT_STEP_TIMEOUT_MS is the step deadline: the longest built-in step (a 180 s key expiry) with room to spare. */
export const DEFAULT_STEP_TIMEOUT_MS = 600_000;

type Limited = keyof typeof RUN_LIMITS;

/**
 * checkLimit refuses a value outside its limit with a usage error (exit 2) that names the option as the caller
 * knows it (`--secrets`, `params.secrets`) and the limit.
 */
export function checkLimit(key: Limited, value: number, shownAs: string): number {
  const limit: { min: number; max: number; what: string; duration?: boolean } = RUN_LIMITS[key];
  const show = (n: number) => (limit.duration ? formatDuration(n) : n.toLocaleString('en-US'));
  if (
    !Number.isFinite(value) ||
    (!limit.duration && !Number.isInteger(value)) ||
    value < limit.min ||
    value > limit.max
  ) {
    throw new KmslabError(
      'usage',
      `${shownAs} ${Number.isFinite(value) ? show(value) : String(value)} is outside what kmslab run allows for ${limit.what}: ${show(limit.min)} to ${show(limit.max)}`,
    );
  }
  return value;
}
