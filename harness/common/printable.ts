import { isUtf8 } from 'node:buffer';

// What a terminal or a CI log would act on instead of showing: C0 and C1 controls (ESC starts escape sequences, BEL,
// CR rewrites the line, LF forges one), DEL, line and paragraph separators, the bidi controls that reorder what
// follows (Trojan Source), lone surrogates; and the backslash, so an escape in the output is never ambiguous.
const UNSAFE = /[\p{Cc}\p{Cs}\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\\]/u;
const UNSAFE_ALL = new RegExp(UNSAFE.source, 'gu');
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\\': '\\\\' };

/**
 * printable makes text that came from outside (etcd keys, key_ids, names in a user's file) safe to print on a
 * terminal or in a CI log, and unambiguous: control and bidi characters become `\n`, `\x1b`, `\u202e`…, a backslash
 * `\\`, and — given bytes — each byte that is not valid UTF-8 `\xNN`. With `maxChars`, at most that many characters
 * are shown, then how long the whole was; only that much of the input is read. Text without any of these comes back
 * unchanged.
 */
export function printable(text: string | Uint8Array, maxChars = Infinity): string {
  if (typeof text === 'string') {
    if (text.length <= maxChars) return escapeText(text);
    return `${cut(escapeText(text.slice(0, 2 * maxChars + 2)), maxChars)}… (${text.length} characters in all)`;
  }
  if (text.length <= maxChars) return escapeBytes(text);
  // Room for the sequence that straddles the cut; escapes only lengthen what is shown.
  return `${cut(escapeBytes(text.subarray(0, maxChars + 3)), maxChars)}… (${text.length} bytes in all)`;
}

function escapeText(text: string): string {
  if (!UNSAFE.test(text)) return text;
  return text.replace(UNSAFE_ALL, (c) => NAMED[c] ?? escapeCode(c.codePointAt(0)!));
}

// \xNN only below 0x80, where a code point and its UTF-8 byte coincide: \x85 is always the invalid byte 0x85, the
// character U+0085 is \u0085.
function escapeCode(code: number): string {
  return code < 0x80 ? `\\x${hex(code, 2)}` : `\\u${hex(code, 4)}`;
}

const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');

// Valid UTF-8 runs are decoded and escaped as text; every byte outside one is shown as \xNN.
function escapeBytes(bytes: Uint8Array): string {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (isUtf8(buf)) return escapeText(buf.toString('utf8'));
  let out = '';
  let run = 0;
  for (let i = 0; i < buf.length;) {
    const len = sequenceLength(buf, i);
    if (len > 0) {
      i += len;
      continue;
    }
    out += escapeText(buf.toString('utf8', run, i)) + `\\x${hex(buf[i]!, 2)}`;
    i++;
    run = i;
  }
  return out + escapeText(buf.toString('utf8', run));
}

// The length of the valid UTF-8 sequence at `i`, or 0 when the byte there starts none.
function sequenceLength(buf: Buffer, i: number): number {
  const lead = buf[i]!;
  const len =
    lead < 0x80
      ? 1
      : lead >= 0xc2 && lead <= 0xdf
        ? 2
        : lead >= 0xe0 && lead <= 0xef
          ? 3
          : lead >= 0xf0 && lead <= 0xf4
            ? 4
            : 0;
  if (len === 0 || i + len > buf.length) return 0;
  return isUtf8(buf.subarray(i, i + len)) ? len : 0;
}

// The first `maxChars` code points (a cut never splits a surrogate pair).
function cut(text: string, maxChars: number): string {
  let out = '';
  let n = 0;
  for (const c of text) {
    if (n++ === maxChars) break;
    out += c;
  }
  return out;
}
