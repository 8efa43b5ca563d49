import type { Check } from './check.js';
import { BACKEND_CHECKS } from './backend-checks.js';
import { HOOK_CHECKS } from './lifecycle-checks.js';
import { PROTOCOL_CHECKS } from './protocol-checks.js';

export { BACKEND_CHECKS, HOOK_CHECKS, PROTOCOL_CHECKS };

/** Every conformance check, in the order a run makes them: protocol, the key lifecycle, then the cloud behind it. */
export const ALL_CHECKS: readonly Check[] = [...PROTOCOL_CHECKS, ...HOOK_CHECKS, ...BACKEND_CHECKS];
