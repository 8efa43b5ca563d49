import { KmslabError } from '../common/errors.js';

/** The most seeds one `--seeds A..B` names. */
export const MAX_SEEDS = 10_000;

/** parseSeedRange reads `--seeds A..B` (whole numbers, A ≤ B, at most MAX_SEEDS) into the seeds, in order. */
export function parseSeedRange(text: string, flag = '--seeds'): string[] {
  const m = /^\s*(\d{1,15})\s*\.\.\s*(\d{1,15})\s*$/.exec(text);
  const from = Number(m?.[1]);
  const to = Number(m?.[2]);
  if (!m || from > to || to - from + 1 > MAX_SEEDS) {
    const why = !m ? 'is not A..B' : from > to ? 'ends before it starts' : `names more than ${MAX_SEEDS} seeds`;
    throw new KmslabError(
      'usage',
      `${flag} "${text.slice(0, 40)}" ${why}: give whole numbers A..B with A ≤ B and at most ${MAX_SEEDS} seeds (e.g. ${flag} 1..100)`,
    );
  }
  return Array.from({ length: to - from + 1 }, (_, i) => String(from + i));
}
