import { z } from 'zod';
import type { Caller } from './identities.js';
import { principalOf } from './identities.js';

/** Permission: what an identity may do with a key. Each cloud front maps its API actions onto these. */
export const PERMISSIONS = ['encrypt', 'decrypt', 'describe', 'manage'] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** A principal is `user:NAME` or `role:NAME`. */
export const Principal = z.string().regex(/^(user|role):[\w.@-]{1,64}$/, 'a principal is user:NAME or role:NAME');

export const GrantSpec = z.strictObject({
  principal: Principal,
  permissions: z.array(z.enum(PERMISSIONS)).min(1),
  /** A key id, or `*` for every key (and for actions on no key, such as creating one). */
  key: z.string().min(1).max(256),
});
export type GrantSpec = z.infer<typeof GrantSpec>;

export const RevokeSpec = z.strictObject({
  principal: Principal,
  /** Default: every permission. */
  permissions: z.array(z.enum(PERMISSIONS)).min(1).optional(),
  /** Default: every key the principal was granted. */
  key: z.string().min(1).max(256).optional(),
});
export type RevokeSpec = z.infer<typeof RevokeSpec>;

export interface Grant extends GrantSpec {
  id: string;
}

/** Grants decides which principal may do what to which key; changed at run time by grant and revoke. */
export class Grants {
  private nextId: number;

  constructor(private grants: Grant[] = []) {
    this.nextId = grants.reduce((n, g) => Math.max(n, Number(g.id.slice(1)) || 0), 0) + 1;
  }

  snapshot(): Grant[] {
    return structuredClone(this.grants);
  }

  list(): Grant[] {
    return this.snapshot();
  }

  grant(spec: GrantSpec): Grant {
    const g = { ...GrantSpec.parse(spec), id: `g${this.nextId++}` };
    this.grants.push(g);
    return { ...g };
  }

  /** revoke takes permissions away; returns how many grants it changed or removed. */
  revoke(spec: RevokeSpec): number {
    const s = RevokeSpec.parse(spec);
    let changed = 0;
    for (const g of this.grants) {
      if (g.principal !== s.principal || (s.key !== undefined && g.key !== s.key)) continue;
      const before = g.permissions.length;
      g.permissions = s.permissions ? g.permissions.filter((p) => !s.permissions!.includes(p)) : [];
      if (g.permissions.length !== before) changed++;
    }
    this.grants = this.grants.filter((g) => g.permissions.length > 0);
    return changed;
  }

  /** allows says whether a caller may do `permission` to `key` (undefined: an action on no key, needing `*`). */
  allows(caller: Caller, permission: Permission, key: string | undefined): boolean {
    const principal = principalOf(caller);
    return this.grants.some(
      (g) => g.principal === principal && g.permissions.includes(permission) && (g.key === '*' || g.key === key),
    );
  }
}
