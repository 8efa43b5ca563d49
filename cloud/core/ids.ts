import type { Random } from '../../sim/index.js';

/** newUuid draws a version-4 UUID from `random` (so ids replay under a seed). */
export function newUuid(random: Random): string {
  const b = random.bytes(16);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  return uuidText(b);
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** randomText draws `length` characters of `alphabet` from `random` (rejection sampling: no bias). */
export function randomText(random: Random, length: number, alphabet = ALNUM): string {
  let out = '';
  const limit = 256 - (256 % alphabet.length);
  while (out.length < length) {
    for (const byte of random.bytes(length)) {
      if (byte < limit && out.length < length) out += alphabet[byte % alphabet.length];
    }
  }
  return out;
}

/** randomDigits draws a decimal string of `length` digits, not starting with 0 (cloud account ids). */
export function randomDigits(random: Random, length: number): string {
  return randomText(random, 1, '123456789') + randomText(random, length - 1, '0123456789');
}

/** uuidBytes packs a UUID into its 16 bytes (ciphertext headers name key versions this way). */
export const uuidBytes = (id: string) => Buffer.from(id.replace(/-/g, ''), 'hex');

/** uuidText unpacks 16 bytes into a UUID's text. */
export function uuidText(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
