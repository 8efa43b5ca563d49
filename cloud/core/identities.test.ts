import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../sim/index.js';
import { alibabaNaming } from '../alibaba/emulator.js';
import { CloudError } from './cloud-error.js';
import { Grants } from './grants.js';
import { Identities, principalOf } from './identities.js';

const kindOf = (f: () => unknown) => {
  try {
    f();
    return 'no error';
  } catch (e) {
    return (e as CloudError).kind;
  }
};

describe('Identities and Grants', () => {
  const clock = { now: 1_000_000 };
  const ids = () => {
    const i = Identities.create(seededRandom('i'), () => clock.now, alibabaNaming);
    const user = i.createUser('cluster');
    i.createUser('stranger');
    i.createRole('kms-role', ['cluster']);
    return { i, user };
  };

  it('resolves long-term keys, and refuses unknown keys', () => {
    const { i, user } = ids();
    expect(i.resolve(user.accessKey.id, undefined)).toMatchObject({
      caller: { kind: 'user', user: 'cluster' },
      secret: user.accessKey.secret,
    });
    expect(kindOf(() => i.resolve('LTAInope', undefined))).toBe('UnknownAccessKey');
  });

  it('issues role sessions to trusted users only; a session needs its own token and expires', () => {
    const { i } = ids();
    expect(kindOf(() => i.assumeRole('stranger', 'kms-role', 's', 3600))).toBe('NotTrusted');
    expect(kindOf(() => i.assumeRole('cluster', 'nope', 's', 3600))).toBe('RoleNotFound');
    const s = i.assumeRole('cluster', 'kms-role', 'plugin', 900);
    expect(s.accessKeyId).toMatch(/^STS\./);
    expect(i.resolve(s.accessKeyId, s.token).caller).toMatchObject({
      kind: 'role',
      role: 'kms-role',
      sessionName: 'plugin',
    });
    expect(kindOf(() => i.resolve(s.accessKeyId, undefined))).toBe('TokenMissing');
    const other = i.assumeRole('cluster', 'kms-role', 'other', 900);
    expect(kindOf(() => i.resolve(s.accessKeyId, other.token))).toBe('TokenMismatch');
    clock.now += 900_000;
    expect(kindOf(() => i.resolve(s.accessKeyId, s.token))).toBe('TokenExpired');
    // sessions() never shows secrets or tokens.
    expect(JSON.stringify(i.sessions())).not.toContain(s.token);
    expect(JSON.stringify(i.sessions())).not.toContain(s.secret);
  });

  it('expire ends matching sessions now; a cap shortens the next ones', () => {
    const { i } = ids();
    const a = i.assumeRole('cluster', 'kms-role', 'a', 3600);
    expect(i.expire({ role: 'other-role' })).toBe(0);
    expect(i.expire({ role: 'kms-role' })).toBe(1);
    expect(kindOf(() => i.resolve(a.accessKeyId, a.token))).toBe('TokenExpired');
    i.capSessions(60_000);
    const b = i.assumeRole('cluster', 'kms-role', 'b', 3600);
    expect(b.expiresAt - b.issuedAt).toBe(60_000);
  });

  it('grants allow per principal, permission and key; revoke takes them away, narrowly or all', () => {
    const { i, user } = ids();
    const caller = i.resolve(user.accessKey.id, undefined).caller;
    const g = new Grants();
    g.grant({ principal: principalOf(caller), permissions: ['encrypt', 'decrypt'], key: 'k1' });
    expect(g.allows(caller, 'encrypt', 'k1')).toBe(true);
    expect(g.allows(caller, 'encrypt', 'k2')).toBe(false);
    expect(g.allows(caller, 'manage', 'k1')).toBe(false);
    expect(g.allows(caller, 'describe', undefined)).toBe(false);
    expect(g.revoke({ principal: 'user:cluster', permissions: ['decrypt'] })).toBe(1);
    expect(g.allows(caller, 'decrypt', 'k1')).toBe(false);
    expect(g.allows(caller, 'encrypt', 'k1')).toBe(true);
    g.grant({ principal: 'user:cluster', permissions: ['describe'], key: '*' });
    expect(g.allows(caller, 'describe', undefined)).toBe(true);
    expect(g.revoke({ principal: 'user:cluster' })).toBe(2);
    expect(g.list()).toEqual([]);
    expect(() => g.grant({ principal: 'cluster', permissions: ['encrypt'], key: 'k' })).toThrow(
      /user:NAME or role:NAME/,
    );
  });
});
