import { createHash } from 'node:crypto';
import { ApiError, type LabApi, type ObjectRef } from '../harness/lab.js';
import { ScenarioFailure } from './error-class.js';

// Varied value sizes: tiny, typical, certificate-sized, and large (well under the 1 MiB object limit).
const SIZES = [16, 700, 6_000, 90_000];

/** SecretSet is the Secrets a scenario wrote and a digest of each one's data, to prove later reads byte-identical. */
export class SecretSet {
  private readonly digests = new Map<string, string>();

  constructor(readonly namespace: string) {}

  get refs(): ObjectRef[] {
    return [...this.digests.keys()].map((name) => ({ namespace: this.namespace, name }));
  }

  get size(): number {
    return this.digests.size;
  }

  /** rewrite PUTs every Secret back unchanged (what `kubectl replace` does in a migration); counts real writes. */
  async rewrite(api: LabApi): Promise<{ rewritten: number; unchanged: number }> {
    let rewritten = 0;
    for (const ref of this.refs) {
      const before = await api.readSecret(ref);
      const after = await api.updateSecret(ref);
      if (after.resourceVersion !== before.resourceVersion) rewritten++;
    }
    return { rewritten, unchanged: this.size - rewritten };
  }

  /** keys lists the etcd keys of the set. */
  get etcdKeys(): string[] {
    return this.refs.map((r) => secretKey(r));
  }

  /** create writes `count` Secrets named `<prefix>-<i>` through `api`, with deterministic data of varied sizes. */
  async create(api: LabApi, prefix: string, count: number): Promise<ObjectRef[]> {
    const made: ObjectRef[] = [];
    for (let i = 0; i < count; i++) {
      const ref = { namespace: this.namespace, name: `${prefix}-${i}` };
      const data = secretData(ref, SIZES[i % SIZES.length]!);
      await api.createSecret(ref, data);
      this.digests.set(ref.name, digest(data));
      made.push(ref);
    }
    return made;
  }

  /** verify reads every Secret through the API (a plain GET: etcd plus decryption) and compares its data. */
  async verify(api: LabApi): Promise<{ read: number; failures: Array<{ name: string; error: string }> }> {
    const failures: Array<{ name: string; error: string }> = [];
    for (const ref of this.refs) {
      try {
        const s = await api.readSecret(ref);
        if (digest(s.data) !== this.digests.get(ref.name))
          failures.push({ name: ref.name, error: 'data differs from what was written' });
      } catch (error) {
        failures.push({ name: ref.name, error: (error as Error).message });
      }
    }
    return { read: this.size - failures.length, failures };
  }

  /** verifyAll is verify that fails the step unless every Secret reads back identical. */
  async verifyAll(api: LabApi): Promise<number> {
    const { read, failures } = await this.verify(api);
    if (failures.length) {
      throw new ScenarioFailure(
        `${failures.length} of ${this.size} Secrets did not read back intact; first: ${failures[0]!.name}: ${failures[0]!.error}`,
      );
    }
    return read;
  }

  /** expectAllUnreadable fails unless every read fails; it returns the first read's ApiError. */
  async expectAllUnreadable(api: LabApi): Promise<ApiError> {
    const { read, failures } = await this.verify(api);
    if (read > 0) throw new ScenarioFailure(`${read} of ${this.size} Secrets were still readable`);
    let first: ApiError | undefined;
    try {
      await api.readSecret(this.refs[0]!);
    } catch (error) {
      if (error instanceof ApiError) first = error;
    }
    if (!first) throw new ScenarioFailure(`reads failed, but not with an API error: ${failures[0]?.error}`);
    return first;
  }
}

/** secretKey is where the apiserver keeps a Secret in etcd (default --etcd-prefix). */
export function secretKey(ref: ObjectRef): string {
  return `/registry/secrets/${ref.namespace}/${ref.name}`;
}

function secretData(ref: ObjectRef, size: number): Record<string, Buffer> {
  const seed = createHash('sha256').update(`${ref.namespace}/${ref.name}`).digest();
  const value = Buffer.alloc(size);
  for (let i = 0; i < size; i += seed.length) seed.copy(value, i);
  return { value, note: Buffer.from(`kmslab test data for ${ref.name}`) };
}

function digest(data: Record<string, Buffer>): string {
  const h = createHash('sha256');
  for (const k of Object.keys(data).sort()) h.update(k).update('\u0000').update(data[k]!).update('\u0000');
  return h.digest('hex');
}
