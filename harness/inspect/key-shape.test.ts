import { expect, test } from 'vitest';
import { seededRandom } from '../../sim/random.js';
import { KeyShape } from './key-shape.js';

const random = seededRandom('key-shape');
const name = () => random.bytes(4 + Math.floor(random.float() * 6)).toString('hex');

test('places follow key order, and a page key spells back to itself, as far as the places reach', () => {
  const keys = Array.from({ length: 500 }, () => Buffer.from(`/registry/secrets/ns/${name()}`)).sort(Buffer.compare);
  const shape = KeyShape.of(keys);
  expect(shape.prefix.toString()).toBe('/registry/secrets/ns/');
  const places = keys.map((k) => shape.place(k)!);
  for (let i = 1; i < places.length; i++) expect(places[i]!).toBeGreaterThanOrEqual(places[i - 1]!);
  for (const k of keys) {
    // Long names are numbered by their first bytes (the number stays exact): the spelling is a prefix of the key.
    const spelled = shape.key(shape.place(k)!)!;
    expect(k.subarray(0, spelled.length)).toEqual(spelled);
    expect(spelled.length).toBeGreaterThanOrEqual(shape.prefix.length + 8);
  }
  expect(shape.place(Buffer.from('/registry/secrets/other'))).toBeUndefined();
});

test('digits count as all ten: 160 keys after secret-000199 is secret-000359', () => {
  const page = Array.from({ length: 200 }, (_, i) => Buffer.from(`secret-${String(i).padStart(6, '0')}`));
  const shape = KeyShape.of(page);
  const from = shape.place(Buffer.from('secret-000199'))!;
  expect(shape.key(from + 160)!.toString()).toBe('secret-000359');
  // Past the last place (the subtree secret-000…): no key.
  expect(shape.key(from + 1000)).toBeUndefined();
});
