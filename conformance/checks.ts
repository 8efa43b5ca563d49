import type { Check } from './check.js';
import { HOOK_CHECKS } from './lifecycle-checks.js';
import { PROTOCOL_CHECKS } from './protocol-checks.js';

export { HOOK_CHECKS, PROTOCOL_CHECKS };

/** Every conformance check, in the order a run makes them: protocol first, then the key lifecycle. */
export const ALL_CHECKS: readonly Check[] = [...PROTOCOL_CHECKS, ...HOOK_CHECKS];
