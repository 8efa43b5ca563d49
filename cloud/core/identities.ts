import type { Random } from '../../sim/index.js';
import { CloudError } from './cloud-error.js';
import { randomDigits, randomText } from './ids.js';

export interface AccessKeyRecord {
  id: string;
  secret: string;
}

export interface UserRecord {
  name: string;
  userId: string;
  accessKeys: AccessKeyRecord[];
}

export interface RoleRecord {
  name: string;
  roleId: string;
  /** Users allowed to assume the role ('*': any user of the account). */
  trusted: string[];
  /** The longest session the role grants. */
  maxSessionSeconds: number;
}

/** SessionRecord is a set of temporary credentials of a role: id, secret, token, and when they expire. */
export interface SessionRecord {
  accessKeyId: string;
  secret: string;
  token: string;
  role: string;
  sessionName: string;
  issuedTo: string;
  issuedAt: number;
  expiresAt: number;
}

/** Caller is who signed a request: a user with a long-term key, or a role session. Never holds a secret. */
export type Caller =
  | { kind: 'user'; accountId: string; user: string; userId: string; accessKeyId: string }
  | {
      kind: 'role';
      accountId: string;
      role: string;
      roleId: string;
      sessionName: string;
      accessKeyId: string;
      issuedTo: string;
      issuedAt: number;
    };

/** How a cloud spells its ids (Alibaba: LTAI… keys, STS.… temporary keys). */
export interface IdentityNaming {
  accessKeyId(random: Random, temporary: boolean): string;
  secret(random: Random): string;
  token(random: Random): string;
  principalId(random: Random): string;
  /** A user's id (default: 16 digits, as Alibaba's); AWS spells it AIDA…. */
  userId?(random: Random): string;
  /** The account id (default: 16 digits, as Alibaba's); AWS's has 12. */
  accountId?(random: Random): string;
}

export interface IdentitiesSnapshot {
  accountId: string;
  users: UserRecord[];
  roles: RoleRecord[];
  sessions: SessionRecord[];
  /** When set, every new session lasts at most this long, whatever was asked. */
  sessionCapMs?: number;
}

export const principalOf = (c: Caller) => (c.kind === 'user' ? `user:${c.user}` : `role:${c.role}`);

/**
 * Identities holds an account's users (long-term access keys), roles, and the temporary credentials issued for
 * roles. Expiry is checked against `now` on every use and can be moved to the present at run time.
 */
export class Identities {
  private constructor(
    private state: IdentitiesSnapshot,
    private readonly random: Random,
    private readonly now: () => number,
    private readonly naming: IdentityNaming,
  ) {}

  static create(random: Random, now: () => number, naming: IdentityNaming): Identities {
    return new Identities(
      { accountId: naming.accountId?.(random) ?? randomDigits(random, 16), users: [], roles: [], sessions: [] },
      random,
      now,
      naming,
    );
  }

  static restore(s: IdentitiesSnapshot, random: Random, now: () => number, naming: IdentityNaming): Identities {
    return new Identities(structuredClone(s), random, now, naming);
  }

  snapshot(): IdentitiesSnapshot {
    return structuredClone(this.state);
  }

  get accountId(): string {
    return this.state.accountId;
  }

  createUser(name: string): { user: UserRecord; accessKey: AccessKeyRecord } {
    if (this.state.users.some((u) => u.name === name)) throw new CloudError('InvalidArgument', `user ${name} exists`);
    const accessKey = { id: this.naming.accessKeyId(this.random, false), secret: this.naming.secret(this.random) };
    const user = {
      name,
      userId: this.naming.userId?.(this.random) ?? randomDigits(this.random, 16),
      accessKeys: [accessKey],
    };
    this.state.users.push(user);
    return { user: structuredClone(user), accessKey: { ...accessKey } };
  }

  createRole(name: string, trusted: string[], maxSessionSeconds = 3600): RoleRecord {
    if (this.state.roles.some((r) => r.name === name)) throw new CloudError('InvalidArgument', `role ${name} exists`);
    const role = { name, roleId: this.naming.principalId(this.random), trusted, maxSessionSeconds };
    this.state.roles.push(role);
    return { ...role };
  }

  role(name: string): RoleRecord {
    const role = this.state.roles.find((r) => r.name === name);
    if (!role) throw new CloudError('RoleNotFound', `no role ${name}`);
    return { ...role };
  }

  users(): { name: string; userId: string; accessKeyIds: string[] }[] {
    return this.state.users.map((u) => ({
      name: u.name,
      userId: u.userId,
      accessKeyIds: u.accessKeys.map((k) => k.id),
    }));
  }

  roles(): RoleRecord[] {
    return this.state.roles.map((r) => ({ ...r }));
  }

  /** sessions lists temporary credentials without their secrets. */
  sessions(): Omit<SessionRecord, 'secret' | 'token'>[] {
    return this.state.sessions.map(({ secret: _s, token: _t, ...rest }) => rest);
  }

  /**
   * resolve finds who an access key id belongs to and the secret its requests are signed with, refusing unknown
   * keys, temporary keys without their token or with another's, and expired sessions.
   */
  resolve(accessKeyId: string, token: string | undefined): { caller: Caller; secret: string } {
    const accountId = this.state.accountId;
    for (const user of this.state.users) {
      const key = user.accessKeys.find((k) => k.id === accessKeyId);
      if (key)
        return {
          caller: { kind: 'user', accountId, user: user.name, userId: user.userId, accessKeyId },
          secret: key.secret,
        };
    }
    const s = this.state.sessions.find((x) => x.accessKeyId === accessKeyId);
    if (!s) throw new CloudError('UnknownAccessKey', `access key ${accessKeyId} does not exist`);
    if (!token)
      throw new CloudError('TokenMissing', `access key ${accessKeyId} is temporary; its security token is missing`);
    if (token !== s.token)
      throw new CloudError('TokenMismatch', `the security token does not belong to ${accessKeyId}`);
    if (this.now() >= s.expiresAt)
      throw new CloudError(
        'TokenExpired',
        `the security token of ${accessKeyId} expired at ${new Date(s.expiresAt).toISOString()}`,
      );
    const role = this.role(s.role);
    return {
      caller: {
        kind: 'role',
        accountId,
        role: s.role,
        roleId: role.roleId,
        sessionName: s.sessionName,
        accessKeyId,
        issuedTo: s.issuedTo,
        issuedAt: s.issuedAt,
      },
      secret: s.secret,
    };
  }

  /** assumeRole issues temporary credentials of a role to a user the role trusts. */
  assumeRole(user: string, roleName: string, sessionName: string, durationSeconds: number): SessionRecord {
    const role = this.role(roleName);
    if (!role.trusted.includes('*') && !role.trusted.includes(user))
      throw new CloudError('NotTrusted', `user ${user} may not assume role ${roleName}`);
    let ms = Math.min(durationSeconds, role.maxSessionSeconds) * 1000;
    if (this.state.sessionCapMs !== undefined) ms = Math.min(ms, this.state.sessionCapMs);
    const now = this.now();
    const session: SessionRecord = {
      accessKeyId: this.naming.accessKeyId(this.random, true),
      secret: this.naming.secret(this.random),
      token: this.naming.token(this.random),
      role: roleName,
      sessionName,
      issuedTo: user,
      issuedAt: now,
      expiresAt: now + ms,
    };
    // Expired sessions are dropped as new ones come, so the state file stays small however long a lab runs.
    this.state.sessions = this.state.sessions.filter((x) => x.expiresAt > now - 3_600_000);
    this.state.sessions.push(session);
    return { ...session };
  }

  /** expire ends matching sessions now (all when no filter is given); returns how many were live. */
  expire(filter: { role?: string; accessKeyId?: string } = {}): number {
    const now = this.now();
    let n = 0;
    for (const s of this.state.sessions) {
      if (filter.role !== undefined && s.role !== filter.role) continue;
      if (filter.accessKeyId !== undefined && s.accessKeyId !== filter.accessKeyId) continue;
      if (s.expiresAt > now) n++;
      s.expiresAt = Math.min(s.expiresAt, now);
    }
    return n;
  }

  /** capSessions makes every session issued from now on last at most `ms` (undefined: no cap). */
  capSessions(ms: number | undefined): void {
    if (ms === undefined) delete this.state.sessionCapMs;
    else this.state.sessionCapMs = ms;
  }

  get sessionCapMs(): number | undefined {
    return this.state.sessionCapMs;
  }

  /** randomName is a helper for fronts that need extra random ids (request ids). */
  randomName(length: number): string {
    return randomText(this.random, length);
  }
}
