import type { Lab } from '../harness/lab.js';
import { createSecrets } from './common-steps.js';
import { ScenarioFailure } from './error-class.js';
import type { ScenarioContext } from './model.js';
import { SecretSet } from './secret-set.js';
import type { StoredSet } from './stored-set.js';

/**
 * StoredBytes is the raw etcd value of every object of a set at one moment: what a scenario compares with later to
 * prove that an incident, and the recovery from it, rewrote nothing.
 */
export class StoredBytes {
  private constructor(
    private readonly set: StoredSet,
    private readonly bytes: Map<string, Buffer>,
  ) {}

  static async keep(lab: Lab, set: StoredSet): Promise<StoredBytes> {
    const bytes = new Map<string, Buffer>();
    for (const ref of set.refs) {
      const value = await lab.etcd.get(set.etcdKeyOf(ref));
      if (!value) throw new ScenarioFailure(`${set.noun}: ${ref.name} is not in etcd`);
      bytes.set(ref.name, value);
    }
    return new StoredBytes(set, bytes);
  }

  get size(): number {
    return this.bytes.size;
  }

  /** expectUnchanged fails unless every object's etcd value is byte for byte what was kept; returns how many. */
  async expectUnchanged(lab: Lab): Promise<number> {
    const changed: string[] = [];
    for (const [name, kept] of this.bytes) {
      const now = await lab.etcd.get(this.set.etcdKeyOf({ namespace: this.set.namespace, name }));
      if (!now?.equals(kept)) changed.push(name);
    }
    if (changed.length)
      throw new ScenarioFailure(`${changed.length} ${this.set.noun} changed in etcd (first: ${changed[0]})`);
    return this.bytes.size;
  }
}

/** secretsKept is a usual start: the scenario's Secrets created, then their etcd bytes kept (two steps). */
export async function secretsKept(lab: Lab, ctx: ScenarioContext): Promise<{ set: SecretSet; stored: StoredBytes }> {
  const set = new SecretSet(ctx.namespace);
  await createSecrets(lab, ctx, set);
  const stored = await ctx.step('raw etcd: keep the stored bytes of every Secret', async (ev) => {
    const kept = await StoredBytes.keep(lab, set);
    ev.kept = kept.size;
    return kept;
  });
  return { set, stored };
}
