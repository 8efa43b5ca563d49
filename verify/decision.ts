import type { Source } from './conditions.js';

export type Outcome = 'pass' | 'fail' | 'undecided';

/** Decision is one source's answer to one condition, with what it covers. */
export interface Decision {
  source: Source;
  outcome: Outcome;
  /** What the answer rests on and how far it reaches, in a sentence (escaped where it quotes the cluster). */
  reason: string;
  /** What met the condition: resources, prefixes, keys (escaped), at most a few. */
  offenders?: string[];
}

export const decided = (source: Source, outcome: Outcome, reason: string, offenders?: string[]): Decision => ({
  source,
  outcome,
  reason,
  ...(offenders && offenders.length ? { offenders } : {}),
});
