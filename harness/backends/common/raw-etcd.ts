import type { Etcd3 } from 'etcd3';
import { EtcdRange, inspectEtcd, openEtcd, scanPrefix, type EtcdTls } from '../../inspect/index.js';
import type { LabEtcd } from '../../lab.js';

/** RawEtcd is raw access to a lab's etcd (no apiserver in between): scans read ranges directly, the rest uses etcd3. */
export class RawEtcd implements LabEtcd {
  private client: Etcd3 | undefined;
  private ranges: EtcdRange | undefined;

  constructor(
    readonly url: string,
    private readonly tls?: EtcdTls,
  ) {}

  private get etcd(): Etcd3 {
    return (this.client ??= openEtcd(this.url, this.tls));
  }

  private get reader(): EtcdRange {
    return (this.ranges ??= new EtcdRange(this.url, this.tls));
  }

  get(key: string): Promise<Buffer | null> {
    return this.etcd.get(key).buffer();
  }

  async getAt(key: string, revision: string): Promise<Buffer | null> {
    const res = await this.etcd.kv.range({ key: Buffer.from(key), revision });
    return res.kvs[0]?.value ?? null;
  }

  async compact(revision?: string): Promise<void> {
    const rev = revision ?? (await this.etcd.kv.range({ key: Buffer.from('\u0000'), limit: 1 })).header.revision;
    await this.etcd.kv.compact({ revision: rev, physical: true });
  }

  async put(key: string, value: Buffer): Promise<void> {
    await this.etcd.put(key).value(value);
  }

  scan(prefix: string) {
    return scanPrefix(this.reader, prefix);
  }

  inspect(prefix?: string) {
    return inspectEtcd({ etcd: this.reader, ...(prefix ? { prefix } : {}) });
  }

  close(): void {
    this.client?.close();
    this.client = undefined;
    this.ranges?.close();
    this.ranges = undefined;
  }
}
