import { KmslabError } from './errors.js';

// Go's time.ParseDuration units, plus days for the CLI's long model runs (Go has none; EncryptionConfiguration
// timeouts are read with `go: true`, which refuses them as the apiserver would).
const UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};
const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d)/y;

export interface DurationRules {
  /** What the text is, for the error: a flag (`--duration`) or a field (`kms.timeout`). */
  what: string;
  /** Go's grammar exactly: no days. */
  go?: boolean;
  /** Smallest accepted value, ms (default: anything above 0). */
  minMs?: number;
  /** Largest accepted value, ms; the error names it. */
  maxMs?: number;
}

/**
 * parseDuration reads a duration the way Go's time.ParseDuration does (`90s`, `1m30s`, `1.5h`, `500ms`), plus `d` for
 * days unless `go` is set, and returns milliseconds. Text that is not a duration, or one outside the rules, is a
 * usage error that says what was wrong and gives examples.
 */
export function parseDuration(text: string, rules: DurationRules): number {
  const ms = durationOrNaN(text, rules.go ?? false);
  const shown = JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
  if (Number.isNaN(ms))
    throw new KmslabError(
      'usage',
      `${rules.what} ${shown} is not a duration; write e.g. 90s, 1m30s, 15m, 24h${rules.go ? '' : ', 7d'}`,
    );
  const min = rules.minMs ?? Number.MIN_VALUE;
  if (ms < min)
    throw new KmslabError(
      'usage',
      `${rules.what} ${shown} is too short: ${min === Number.MIN_VALUE ? 'it must be above 0' : `the least is ${formatDuration(min)}`}`,
    );
  if (rules.maxMs !== undefined && ms > rules.maxMs)
    throw new KmslabError('usage', `${rules.what} ${shown} is too long: the most is ${formatDuration(rules.maxMs)}`);
  return ms;
}

/** durationOrNaN is parseDuration without rules: milliseconds, or NaN when the text is not a duration. */
export function durationOrNaN(text: string, go = false): number {
  let rest = text;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    sign = rest.startsWith('-') ? -1 : 1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0; // Go accepts a bare 0
  if (rest === '') return NaN;
  let ms = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < rest.length) {
    const at = PART.lastIndex;
    const m = PART.exec(rest);
    if (!m || m.index !== at) return NaN;
    if (go && m[2] === 'd') return NaN;
    ms += Number(m[1]) * UNITS[m[2]!]!;
  }
  return Number.isFinite(ms) ? sign * ms : NaN;
}

/** formatDuration writes milliseconds back the short way: 90000 → 1m30s, 86400000 → 1d, 1500 → 1.5s. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 0) return `-${formatDuration(-ms)}`;
  if (ms < 1000) return `${Math.round(ms * 1000) / 1000}ms`;
  let rest = ms;
  let out = '';
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
  ] as const) {
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  if (rest > 0) out += `${Math.round(rest) / 1000}s`;
  return out;
}
