import type { Check } from './check.js';
import type { CheckPhase } from './check-runner.js';
import { BACKEND_CHECKS, HOOK_CHECKS, PROTOCOL_CHECKS } from './checks.js';

/**
 * shardChecks is what a shard of a conformance run runs: every check in run order up to the last one it reports.
 * Checks share one plugin and its state — a plugin that dies stops the protocol checks after it, a rotation or a key
 * left disabled carries over — so a check reaches its whole-run verdict only after the same checks before it. They
 * take seconds; the scenarios are what a shard saves time on.
 */
export function shardChecks(reported: (id: string) => boolean): Array<[CheckPhase, Check[]]> {
  const all = [...PROTOCOL_CHECKS, ...HOOK_CHECKS, ...BACKEND_CHECKS];
  const last = all.findLastIndex((c) => reported(c.id));
  const upTo = new Set(all.slice(0, last + 1));
  return [
    ['protocol', PROTOCOL_CHECKS.filter((c) => upTo.has(c))],
    ['lifecycle', HOOK_CHECKS.filter((c) => upTo.has(c))],
    ['backend', BACKEND_CHECKS.filter((c) => upTo.has(c))],
  ];
}
