import { describe, expect, test } from 'vitest';
import { Keyring, KeyringError } from './keyring.js';
import { seededRandom } from './random.js';

const newRing = (seed: string | number = 'ring') => Keyring.create({ random: seededRandom(seed), now: () => 1000 });
const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    return (error as KeyringError).code;
  }
  return 'no error';
};

describe('Keyring', () => {
  test('wraps with the primary version and binds the key_id as authenticated data', () => {
    const ring = newRing();
    const { ciphertext, keyId } = ring.wrap(Buffer.from('seed'));
    expect(keyId).toBe(ring.primary.keyId);
    expect(ring.unwrap(ciphertext, keyId).toString()).toBe('seed');
    const other = ring.rotate();
    expect(code(() => ring.unwrap(ciphertext, other.keyId))).toBe('INVALID_CIPHERTEXT');
    const tampered = Buffer.from(ciphertext);
    tampered[20]! ^= 1;
    expect(code(() => ring.unwrap(tampered, keyId))).toBe('INVALID_CIPHERTEXT');
    expect(code(() => ring.unwrap(ciphertext, 'nobody-v1'))).toBe('NOT_FOUND');
  });

  test('rotate makes a new primary; old versions still decrypt', () => {
    const ring = newRing();
    const v1 = ring.wrap(Buffer.from('one'));
    const v2 = ring.rotate();
    expect(v2.version).toBe(2);
    expect(ring.primary.keyId).toBe(v2.keyId);
    expect(ring.wrap(Buffer.from('two')).keyId).toBe(v2.keyId);
    expect(ring.unwrap(v1.ciphertext, v1.keyId).toString()).toBe('one');
  });

  test('disable refuses use until enabled; destroy is final', () => {
    const ring = newRing();
    const w = ring.wrap(Buffer.from('x'));
    ring.disable(w.keyId);
    expect(code(() => ring.unwrap(w.ciphertext, w.keyId))).toBe('DISABLED');
    expect(code(() => ring.wrap(Buffer.from('y')))).toBe('DISABLED');
    expect(
      (() => {
        try {
          ring.unwrap(w.ciphertext, w.keyId);
        } catch (e) {
          return (e as Error).message;
        }
      })(),
    ).toContain(w.keyId);
    ring.enable(w.keyId);
    expect(ring.unwrap(w.ciphertext, w.keyId).toString()).toBe('x');
    ring.destroy(w.keyId);
    expect(code(() => ring.unwrap(w.ciphertext, w.keyId))).toBe('DESTROYED');
    expect(code(() => ring.enable(w.keyId))).toBe('DESTROYED');
    expect(ring.snapshot().keys[0]!.versions[0]!.material).toBeNull();
  });

  test('snapshot and restore keep every key and version', () => {
    const ring = newRing();
    const w = ring.wrap(Buffer.from('kept'));
    ring.rotate();
    ring.disable(w.keyId);
    const back = Keyring.restore(JSON.parse(JSON.stringify(ring.snapshot())), {
      random: seededRandom(2),
      now: () => 0,
    });
    expect(back.versions()).toEqual(ring.versions());
    back.enable(w.keyId);
    expect(back.unwrap(w.ciphertext, w.keyId).toString()).toBe('kept');
    expect(code(() => Keyring.restore({} as never, { random: seededRandom(1), now: () => 0 }))).toBe(
      'INVALID_ARGUMENT',
    );
  });

  test('key_ids are never reused, whatever sequence of operations runs', () => {
    for (let run = 0; run < 50; run++) {
      const random = seededRandom(`ops-${run}`);
      const ring = Keyring.create({ random, now: () => 0 });
      const seen = new Set(ring.versions().map((v) => v.keyId));
      let issued = seen.size;
      for (let i = 0; i < 60; i++) {
        const pick = random.float();
        const versions = ring.versions();
        const target = versions[Math.floor(random.float() * versions.length)]!.keyId;
        try {
          if (pick < 0.3) {
            const v = ring.rotate();
            seen.add(v.keyId);
            issued++;
          } else if (pick < 0.4) {
            const v = ring.createKey(`k${i}`);
            seen.add(v.keyId);
            issued++;
          } else if (pick < 0.5) ring.useKey(versions[Math.floor(random.float() * versions.length)]!.key);
          else if (pick < 0.7) ring.disable(target);
          else if (pick < 0.85) ring.enable(target);
          else ring.destroy(target);
        } catch (error) {
          expect(error).toBeInstanceOf(KeyringError);
        }
        const restored = Keyring.restore(ring.snapshot(), { random, now: () => 0 });
        expect(restored.versions().length).toBe(issued);
      }
      expect(seen.size).toBe(issued);
    }
    // Two keyrings never share key_ids either: each has its own random ring id.
    expect(newRing('a').primary.keyId).not.toBe(newRing('b').primary.keyId);
  });

  test('bad key names are refused with a reason', () => {
    const ring = newRing();
    expect(() => ring.createKey('Bad Name')).toThrow(/lower-case/);
    expect(() => ring.createKey('kmslab')).toThrow(/already exists/);
    expect(() => ring.useKey('missing')).toThrow(/does not exist/);
  });
});
