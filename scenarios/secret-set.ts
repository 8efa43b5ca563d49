import type { LabApi, ObjectRef } from '../harness/lab.js';
import { StoredSet, payloadFor, type Payload } from './stored-set.js';

/** SecretSet is the Secrets a scenario wrote and a digest of each one's data, to prove later reads byte-identical. */
export class SecretSet extends StoredSet {
  readonly resource = 'secrets';
  readonly noun = 'Secrets';

  etcdKeyOf(ref: ObjectRef): string {
    return secretKey(ref);
  }

  /** rewrite PUTs every Secret back unchanged (what `kubectl replace` does in a migration); counts real writes. */
  async rewrite(api: LabApi): Promise<{ rewritten: number; unchanged: number }> {
    let rewritten = 0;
    for (const ref of this.refs) if (await rewriteSecret(api, ref)) rewritten++;
    return { rewritten, unchanged: this.size - rewritten };
  }

  protected async write(api: LabApi, ref: ObjectRef, size: number): Promise<Payload> {
    const data = { value: payloadFor(ref, size), note: Buffer.from(`kmslab test data for ${ref.name}`) };
    await api.createSecret(ref, data);
    return data;
  }

  protected async readPayload(api: LabApi, ref: ObjectRef): Promise<Payload> {
    return (await api.readSecret(ref)).data;
  }
}

/** rewriteSecret PUTs one Secret back unchanged; true when the apiserver stored it anew (a new resourceVersion). */
export async function rewriteSecret(api: LabApi, ref: ObjectRef): Promise<boolean> {
  const before = await api.readSecret(ref);
  const after = await api.updateSecret(ref);
  return after.resourceVersion !== before.resourceVersion;
}

/** secretKey is where the apiserver keeps a Secret in etcd (default --etcd-prefix). */
export function secretKey(ref: ObjectRef): string {
  return `/registry/secrets/${ref.namespace}/${ref.name}`;
}
