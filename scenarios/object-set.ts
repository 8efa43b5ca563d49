import type { LabApi, ObjectRef } from '../harness/lab.js';
import { RestObjects } from '../harness/kube/rest-objects.js';
import type { EncryptedResource } from './encrypted-resources.js';
import { sampleBody } from './sample-objects.js';
import { StoredSet, payloadFor, type Payload } from './stored-set.js';

// Annotations hold up to 256 KiB in all, so the largest payload fits any kind of object.
const PAYLOAD = 'kmslab.dev/payload';

/**
 * ObjectSet is a StoredSet of any resource other than Secrets (ConfigMaps, Deployments, custom resources…): each
 * object carries its payload in an annotation, written and read through the REST API.
 */
export class ObjectSet extends StoredSet {
  readonly resource: string;
  readonly noun: string;

  constructor(
    readonly target: EncryptedResource,
    namespace: string,
  ) {
    super(namespace);
    this.resource = this.noun = target.name;
  }

  /** canWrite says whether kmslab knows how to write objects of this resource. */
  static canWrite(target: EncryptedResource): boolean {
    return sampleBody(target, 'default') !== undefined;
  }

  etcdKeyOf(ref: ObjectRef): string {
    return `${this.target.etcdPrefix}${ref.namespace}/${ref.name}`;
  }

  protected async write(api: LabApi, ref: ObjectRef, size: number): Promise<Payload> {
    const payload = payloadFor(ref, size, 'text');
    await new RestObjects(api).create(this.target, {
      ...sampleBody(this.target, ref.namespace),
      metadata: { name: ref.name, namespace: ref.namespace, annotations: { [PAYLOAD]: payload.toString('latin1') } },
    });
    return payload;
  }

  protected async readPayload(api: LabApi, ref: ObjectRef): Promise<Payload> {
    const object = await new RestObjects(api).get(this.target, ref.namespace, ref.name);
    return Buffer.from(object.metadata.annotations?.[PAYLOAD] ?? '', 'latin1');
  }
}
