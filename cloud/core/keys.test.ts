import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../sim/index.js';
import { CloudError } from './cloud-error.js';
import { KeyStore } from './keys.js';

const store = (seed = 's', clock = { now: 1_000 }, after: 'Enabled' | 'Disabled' = 'Enabled') =>
  new KeyStore(seededRandom(seed), () => clock.now, { stateAfterCancelledDeletion: after });
const kind = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return e instanceof CloudError ? e.kind : `not a CloudError: ${String(e)}`;
  }
  return 'no error';
};

describe('KeyStore', () => {
  it('Decrypt uses the version in the ciphertext: rotation keeps old ciphertexts readable, new ones use the new primary', () => {
    const s = store();
    const k = s.create();
    const old = s.encrypt(k.keyId, Buffer.from('seed-1'));
    const { versionId } = s.rotate(k.keyId);
    const fresh = s.encrypt(k.keyId, Buffer.from('seed-2'));
    expect(fresh.versionId).toBe(versionId);
    expect(old.versionId).not.toBe(versionId);
    expect(s.decrypt(old.ciphertext)).toMatchObject({ keyId: k.keyId, versionId: old.versionId });
    expect(s.decrypt(old.ciphertext).plaintext.toString()).toBe('seed-1');
    expect(s.decrypt(fresh.ciphertext).plaintext.toString()).toBe('seed-2');
    expect(s.get(k.keyId).versions).toHaveLength(2);
  });

  it('refuses every altered byte and a different encryption context', () => {
    const s = store();
    const k = s.create();
    const { ciphertext } = s.encrypt(k.keyId, Buffer.from('secret'), '{"a":"1"}');
    expect(kind(() => s.decrypt(ciphertext, '{"a":"2"}'))).toBe('InvalidCiphertext');
    fc.assert(
      fc.property(fc.nat(ciphertext.length - 1), fc.integer({ min: 1, max: 255 }), (at, x) => {
        const bad = Buffer.from(ciphertext);
        bad[at]! ^= x;
        expect(['InvalidCiphertext', 'KeyNotFound']).toContain(kind(() => s.decrypt(bad, '{"a":"1"}')));
      }),
    );
  });

  it('a disabled key refuses Encrypt and Decrypt until enabled; state changes follow the rules', () => {
    const s = store();
    const k = s.create();
    const { ciphertext } = s.encrypt(k.keyId, Buffer.from('x'));
    s.disable(k.keyId);
    expect(kind(() => s.encrypt(k.keyId, Buffer.from('x')))).toBe('KeyDisabled');
    expect(kind(() => s.decrypt(ciphertext))).toBe('KeyDisabled');
    expect(kind(() => s.rotate(k.keyId))).toBe('KeyDisabled');
    s.enable(k.keyId);
    expect(s.decrypt(ciphertext).plaintext.toString()).toBe('x');
  });

  it('pending deletion refuses use, can be cancelled (to the cloud rule state), and destroys the key when the window ends', () => {
    const clock = { now: 1_000 };
    for (const after of ['Enabled', 'Disabled'] as const) {
      const s = store('s', clock, after);
      const k = s.create();
      s.scheduleDeletion(k.keyId, 60_000);
      expect(kind(() => s.encrypt(k.keyId, Buffer.from('x')))).toBe('KeyPendingDeletion');
      expect(kind(() => s.enable(k.keyId))).toBe('KeyStateConflict');
      expect(kind(() => s.scheduleDeletion(k.keyId, 1))).toBe('KeyStateConflict');
      expect(s.cancelDeletion(k.keyId).state).toBe(after);
      expect(kind(() => s.cancelDeletion(k.keyId))).toBe('KeyStateConflict');
    }
    const s = store('s', clock);
    const k = s.create();
    const { ciphertext } = s.encrypt(k.keyId, Buffer.from('x'));
    s.scheduleDeletion(k.keyId, 60_000);
    clock.now += 59_999;
    expect(s.get(k.keyId).state).toBe('PendingDeletion');
    clock.now += 1;
    expect(kind(() => s.get(k.keyId))).toBe('KeyNotFound');
    expect(kind(() => s.decrypt(ciphertext))).toBe('KeyNotFound');
    expect(kind(() => s.cancelDeletion(k.keyId))).toBe('KeyNotFound');
    // Listing still works, and shows the tombstone.
    expect(s.list().map((x) => [x.keyId, x.state])).toEqual([[k.keyId, 'Destroyed']]);
    // The material is gone from the snapshot, not only hidden.
    expect(s.snapshot()[0]!.versions.every((v) => v.material === '')).toBe(true);
  });

  it('is deterministic under a seed, and a restored store decrypts what the first made', () => {
    const a = store('same');
    const b = store('same');
    const ka = a.create();
    expect(b.create()).toEqual(ka);
    const { ciphertext } = a.encrypt(ka.keyId, Buffer.from('x'));
    expect(b.encrypt(ka.keyId, Buffer.from('x')).ciphertext.equals(ciphertext)).toBe(true);
    const restored = KeyStore.restore(a.snapshot(), seededRandom('other'), () => 1_000, {
      stateAfterCancelledDeletion: 'Enabled',
    });
    expect(restored.decrypt(ciphertext).plaintext.toString()).toBe('x');
    expect(kind(() => store('other').decrypt(ciphertext))).toBe('KeyNotFound');
  });

  it('with material outside, usePrimary and useVersion apply the same state rules and the store itself holds no material', () => {
    const clock = { now: 1_000 };
    const s = new KeyStore(seededRandom('m'), () => clock.now, {
      stateAfterCancelledDeletion: 'Disabled',
      materialOutside: true,
    });
    const k = s.create();
    const first = s.usePrimary(k.keyId);
    expect(first).toEqual({ keyId: k.keyId, versionId: k.primaryVersionId });
    const { versionId } = s.rotate(k.keyId);
    expect(s.usePrimary(k.keyId).versionId).toBe(versionId);
    expect(s.useVersion(first.versionId)).toEqual(first);
    expect(s.snapshot()[0]!.versions.map((v) => v.material)).toEqual(['', '']);
    expect(kind(() => s.encrypt(k.keyId, Buffer.from('x')))).toMatch(/not a CloudError: .*holds no material/);
    expect(kind(() => s.useVersion('00000000-0000-4000-8000-000000000000'))).toBe('KeyNotFound');
    s.disable(k.keyId);
    expect(kind(() => s.usePrimary(k.keyId))).toBe('KeyDisabled');
    expect(kind(() => s.useVersion(first.versionId))).toBe('KeyDisabled');
    s.enable(k.keyId);
    s.scheduleDeletion(k.keyId, 10);
    expect(kind(() => s.useVersion(first.versionId))).toBe('KeyPendingDeletion');
    expect(s.cancelDeletion(k.keyId).state).toBe('Disabled');
    s.scheduleDeletion(k.keyId, 10);
    clock.now += 10;
    expect(kind(() => s.useVersion(versionId))).toBe('KeyNotFound');
  });
});
