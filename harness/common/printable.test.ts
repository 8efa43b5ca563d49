import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { printable } from './printable.js';

// The inverse of printable for bytes: proves nothing is lost or ambiguous.
function unescape(shown: string): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < shown.length;) {
    if (shown[i] !== '\\') {
      const c = String.fromCodePoint(shown.codePointAt(i)!);
      parts.push(Buffer.from(c, 'utf8'));
      i += c.length;
      continue;
    }
    const kind = shown[i + 1]!;
    if (kind === 'x') {
      parts.push(Buffer.of(parseInt(shown.slice(i + 2, i + 4), 16)));
      i += 4;
    } else if (kind === 'u') {
      parts.push(Buffer.from(String.fromCharCode(parseInt(shown.slice(i + 2, i + 6), 16)), 'utf8'));
      i += 6;
    } else {
      parts.push(Buffer.from({ n: '\n', r: '\r', t: '\t', '\\': '\\' }[kind]!, 'utf8'));
      i += 2;
    }
  }
  return Buffer.concat(parts);
}

const TERMINAL_ACTS_ON = /[\p{Cc}\p{Cs}\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

describe('printable', () => {
  test('ordinary keys, names and Unicode text come back unchanged', () => {
    for (const s of ['/registry/secrets/app/db', 'kms-v2.example', 'clé-Schlüssel-鍵', '👩‍💻'])
      expect(printable(s)).toBe(s);
  });

  test('escape sequences, bells, carriage returns, bidi overrides and backslashes are shown, not acted on', () => {
    expect(printable('/registry/secrets/a\x1b]0;pwned\x07\rb')).toBe('/registry/secrets/a\\x1b]0;pwned\\x07\\rb');
    expect(printable('x\u202eevil\u2066')).toBe('x\\u202eevil\\u2066');
    expect(printable('a\\x1b')).toBe('a\\\\x1b');
    expect(printable('\u0085\x7f\n\t')).toBe('\\u0085\\x7f\\n\\t');
  });

  test('bytes that are not UTF-8 are shown as \\xNN, valid sequences around them decoded', () => {
    expect(printable(Buffer.from([0x2f, 0xff, 0xc3, 0xa9, 0xc3, 0x1b, 0x80]))).toBe('/\\xffé\\xc3\\x1b\\x80');
    // The invalid byte 0x85 and the character U+0085 are told apart.
    expect(printable(Buffer.of(0x85))).toBe('\\x85');
    expect(printable(Buffer.from('\u0085'))).toBe('\\u0085');
  });

  test('any bytes: nothing a terminal acts on is left, and the original bytes can be read back exactly', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const shown = printable(bytes);
        expect(shown).not.toMatch(TERMINAL_ACTS_ON);
        expect(unescape(shown).equals(Buffer.from(bytes))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  test('any string: nothing a terminal acts on is left', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 64 }), (s) => {
        expect(printable(s)).not.toMatch(TERMINAL_ACTS_ON);
      }),
      { numRuns: 2000 },
    );
  });

  test('long text is cut to maxChars, and says how long it was', () => {
    const huge = 'n'.repeat(20 * 1024 * 1024);
    expect(printable(huge, 64)).toBe(`${'n'.repeat(64)}… (${huge.length} characters in all)`);
    expect(printable(Buffer.from(huge), 10)).toBe(`${'n'.repeat(10)}… (${huge.length} bytes in all)`);
    expect(printable('\0'.repeat(100), 8)).toBe('\\x00\\x00… (100 characters in all)');
  });
});
