/** Sample is one line of Prometheus' text exposition format: a metric name, its labels and its value. */
export interface Sample {
  name: string;
  /** Label values as the exporter wrote them (escapes undone); a null-prototype object: any name is safe as a key. */
  labels: Record<string, string>;
  value: number;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"/;

/**
 * parsePrometheusText reads the samples of a /metrics body (text format 0.0.4): comments, blank lines and the
 * optional timestamp are skipped; label values have their `\\`, `\"` and `\n` escapes undone. A line that does not
 * parse is skipped and counted, never guessed at: the exporter is the apiserver, so such a line means a format we
 * do not know, and the caller says so.
 */
export function parsePrometheusText(text: string): { samples: Sample[]; unreadable: number } {
  const samples: Sample[] = [];
  let unreadable = 0;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const sample = parseLine(line);
    if (sample) samples.push(sample);
    else unreadable++;
  }
  return { samples, unreadable };
}

function parseLine(line: string): Sample | undefined {
  const name = NAME.exec(line)?.[0];
  if (!name) return undefined;
  let rest = line.slice(name.length);
  const labels = Object.create(null) as Record<string, string>;
  if (rest.startsWith('{')) {
    rest = rest.slice(1);
    for (;;) {
      rest = rest.trimStart();
      if (rest.startsWith('}')) {
        rest = rest.slice(1);
        break;
      }
      const m = LABEL.exec(rest);
      if (!m) return undefined;
      rest = rest.slice(m[0].length);
      const value = quoted(rest);
      if (!value) return undefined;
      labels[m[1]!] = value.text;
      rest = rest.slice(value.length).trimStart();
      if (rest.startsWith(',')) rest = rest.slice(1);
      else if (!rest.startsWith('}')) return undefined;
    }
  }
  const fields = rest.trim().split(/\s+/);
  if (fields.length < 1 || fields.length > 2 || fields[0] === '') return undefined;
  const value = numberOf(fields[0]!);
  return value === undefined ? undefined : { name, labels, value };
}

// A label value up to its closing quote: the text with escapes undone, and how many characters it took.
function quoted(rest: string): { text: string; length: number } | undefined {
  let text = '';
  for (let i = 0; i < rest.length; i++) {
    const c = rest[i]!;
    if (c === '"') return { text, length: i + 1 };
    if (c !== '\\') {
      text += c;
      continue;
    }
    const next = rest[++i];
    if (next === undefined) return undefined;
    text += next === 'n' ? '\n' : next;
  }
  return undefined;
}

function numberOf(text: string): number | undefined {
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  const n = Number(text);
  return Number.isNaN(n) ? undefined : n;
}
