import type { ApiError, LabApi } from '../harness/lab.js';
import { isSecrets, type EncryptedResources } from './encrypted-resources.js';
import { ObjectSet } from './object-set.js';
import { SecretSet } from './secret-set.js';
import { SIZES, type ReadFailure, type StoredSet } from './stored-set.js';

/**
 * Workload is the data a scenario writes for every resource its config encrypts: its Secrets, and a few objects of
 * each other resource kmslab can write (ConfigMaps, Deployments, custom resources…), so each one has data to prove.
 */
export class Workload {
  readonly secrets: SecretSet;
  readonly others: ObjectSet[];

  constructor(namespace: string, encrypted: EncryptedResources) {
    this.secrets = new SecretSet(namespace);
    this.others = encrypted.resources
      .filter((r) => !isSecrets(r) && ObjectSet.canWrite(r))
      .map((r) => new ObjectSet(r, namespace));
  }

  get sets(): StoredSet[] {
    return [this.secrets, ...this.others];
  }

  /** setFor is the set of one resource (`secrets`, `configmaps`…), if the workload writes it. */
  setFor(resource: string): StoredSet | undefined {
    return this.sets.find((s) => s.resource === resource);
  }

  /** size counts every object written, of every resource. */
  get size(): number {
    return this.sets.reduce((n, s) => n + s.size, 0);
  }

  /** describe says what `create(…, count)` writes: `24 Secrets`, or `24 Secrets and 4 each of configmaps, …`. */
  describe(count: number): string {
    if (this.others.length === 0) return `${count} Secrets`;
    const names = this.others.map((s) => s.resource);
    const listed = names.length <= 4 ? names.join(', ') : `${names.length} other resources`;
    return `${count} Secrets and ${perResource(count)} each of ${listed}`;
  }

  /** create writes `count` Secrets and a few objects of every other resource, named `<prefix>-<i>`. */
  async create(api: LabApi, prefix: string, count: number): Promise<Record<string, number>> {
    await this.secrets.create(api, prefix, count);
    for (const set of this.others) await set.create(api, prefix, perResource(count));
    return this.counts();
  }

  /** counts is how many objects of each resource the workload holds, for evidence. */
  counts(): Record<string, number> {
    return Object.fromEntries(this.sets.map((s) => [s.resource, s.size]));
  }

  /** verify reads every object back through `api`; failures name their resource. */
  async verify(api: LabApi): Promise<{ read: number; failures: Array<ReadFailure & { resource: string }> }> {
    let read = 0;
    const failures: Array<ReadFailure & { resource: string }> = [];
    for (const set of this.sets) {
      const r = await set.verify(api);
      read += r.read;
      failures.push(...r.failures.map((f) => ({ resource: set.resource, ...f })));
    }
    return { read, failures };
  }

  /** verifyAll fails the step, naming the resource, unless every object of every resource reads back identical. */
  async verifyAll(api: LabApi): Promise<number> {
    let read = 0;
    for (const set of this.sets) read += await set.verifyAll(api);
    return read;
  }

  /** expectAllUnreadable fails unless no object of any resource reads; it returns each resource's first error. */
  async expectAllUnreadable(api: LabApi): Promise<Array<{ resource: string; error: ApiError }>> {
    const out: Array<{ resource: string; error: ApiError }> = [];
    for (const set of this.sets) out.push({ resource: set.resource, error: await set.expectAllUnreadable(api) });
    return out;
  }
}

// A few of each other resource, one per payload size: enough to prove it without multiplying a scenario's writes.
const perResource = (count: number) => Math.min(count, SIZES.length);
