import { createHash } from 'node:crypto';
import { ApiError, type LabApi, type ObjectRef } from '../harness/lab.js';
import { ScenarioFailure } from './error-class.js';

// Varied value sizes: tiny, typical, certificate-sized, and large (well under the 1 MiB object limit).
export const SIZES = [16, 700, 6_000, 90_000];

/** A read that failed: which object, and what the apiserver said. */
export interface ReadFailure {
  name: string;
  error: string;
}

/**
 * StoredSet is the objects of one resource a scenario wrote, with a digest of each one's payload, to prove later
 * reads byte-identical. Subclasses say how one object is written and read back.
 */
export abstract class StoredSet {
  private readonly digests = new Map<string, string>();

  constructor(readonly namespace: string) {}

  /** The resource, as an EncryptionConfiguration names it (`secrets`, `configmaps`, `widgets.example.com`). */
  abstract readonly resource: string;
  /** How messages call the objects: `Secrets`, `configmaps`. */
  abstract readonly noun: string;
  /** etcdKeyOf is where the apiserver keeps one object of the set. */
  abstract etcdKeyOf(ref: ObjectRef): string;
  /** write creates one object with a payload of about `size` bytes and returns that payload. */
  protected abstract write(api: LabApi, ref: ObjectRef, size: number): Promise<Payload>;
  /** readPayload reads one object through the API (a plain GET: etcd plus decryption) and returns its payload. */
  protected abstract readPayload(api: LabApi, ref: ObjectRef): Promise<Payload>;

  get refs(): ObjectRef[] {
    return [...this.digests.keys()].map((name) => ({ namespace: this.namespace, name }));
  }

  get size(): number {
    return this.digests.size;
  }

  /** etcdKeys lists the etcd keys of the set. */
  get etcdKeys(): string[] {
    return this.refs.map((r) => this.etcdKeyOf(r));
  }

  has(name: string): boolean {
    return this.digests.has(name);
  }

  /** create writes `count` objects named `<prefix>-<i>` through `api`, with deterministic payloads of varied sizes. */
  async create(api: LabApi, prefix: string, count: number): Promise<ObjectRef[]> {
    const made: ObjectRef[] = [];
    for (let i = 0; i < count; i++) {
      const ref = { namespace: this.namespace, name: `${prefix}-${i}` };
      this.digests.set(ref.name, digest(await this.write(api, ref, SIZES[i % SIZES.length]!)));
      made.push(ref);
    }
    return made;
  }

  /** verify reads every object through the API and compares its payload with what was written. */
  async verify(api: LabApi): Promise<{ read: number; failures: ReadFailure[] }> {
    const failures: ReadFailure[] = [];
    for (const ref of this.refs) {
      try {
        if (digest(await this.readPayload(api, ref)) !== this.digests.get(ref.name))
          failures.push({ name: ref.name, error: 'data differs from what was written' });
      } catch (error) {
        failures.push({ name: ref.name, error: (error as Error).message });
      }
    }
    return { read: this.size - failures.length, failures };
  }

  /** verifyAll is verify that fails the step unless every object reads back identical. */
  async verifyAll(api: LabApi): Promise<number> {
    const { read, failures } = await this.verify(api);
    if (failures.length) {
      throw new ScenarioFailure(
        `${failures.length} of ${this.size} ${this.noun} did not read back intact; first: ${failures[0]!.name}: ${failures[0]!.error}`,
      );
    }
    return read;
  }

  /** expectAllUnreadable fails unless every read fails; it returns the first read's ApiError. */
  async expectAllUnreadable(api: LabApi): Promise<ApiError> {
    const { read, failures } = await this.verify(api);
    if (read > 0) throw new ScenarioFailure(`${read} of ${this.size} ${this.noun} were still readable`);
    const first = await this.errorOf(api, this.refs[0]!);
    if (!(first instanceof ApiError))
      throw new ScenarioFailure(`${this.noun}: reads failed, but not with an API error: ${failures[0]?.error}`);
    return first;
  }

  /** errorOf reads one object and returns what the read threw, or undefined when it read. */
  async errorOf(api: LabApi, ref: ObjectRef): Promise<unknown> {
    return this.readPayload(api, ref).then(
      () => undefined,
      (error: unknown) => error,
    );
  }

  /** etcdPrefix is where the set's objects are in etcd: its resource's prefix and namespace. */
  get etcdPrefix(): string {
    return this.etcdKeyOf({ namespace: this.namespace, name: '' });
  }
}

/** Payload is what an object of a set carries: bytes, or named values (a Secret's data). */
export type Payload = Buffer | Record<string, Buffer>;

/**
 * payloadFor is deterministic data of `size` bytes derived from an object's namespace and name: raw bytes, or
 * their hex text where the object only holds text (annotations).
 */
export function payloadFor(ref: ObjectRef, size: number, form: 'bytes' | 'text' = 'bytes'): Buffer {
  const hash = createHash('sha256').update(`${ref.namespace}/${ref.name}`).digest();
  const seed = form === 'text' ? Buffer.from(hash.toString('hex')) : hash;
  const value = Buffer.alloc(size);
  for (let i = 0; i < size; i += seed.length) seed.copy(value, i);
  return value;
}

function digest(data: Payload): string {
  const h = createHash('sha256');
  if (Buffer.isBuffer(data)) return h.update(data).digest('hex');
  for (const k of Object.keys(data).sort()) h.update(k).update('\u0000').update(data[k]!).update('\u0000');
  return h.digest('hex');
}
