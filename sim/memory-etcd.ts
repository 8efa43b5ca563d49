/**
 * MemoryEtcd is the part of etcd the models need: keys with a global revision, history per key until compaction,
 * and paged prefix ranges at a revision. Values are kept as given (no copies on read: callers must not mutate).
 */
export interface EtcdKv {
  key: string;
  value: Buffer;
  modRevision: number;
}

export class MemoryEtcd {
  private rev = 1;
  private compacted = 0;
  // Every version of every key, oldest first; `value: null` marks a delete.
  private readonly history = new Map<string, Array<{ rev: number; value: Buffer | null }>>();
  private readonly watchers = new Set<{ prefix: string; fn: (kv: EtcdKv) => void }>();

  get revision(): number {
    return this.rev;
  }

  get(key: string, revision?: number): EtcdKv | undefined {
    if (revision !== undefined && revision < this.compacted) {
      throw new Error(`etcdserver: mvcc: required revision has been compacted`);
    }
    const versions = this.history.get(key);
    if (!versions) return undefined;
    for (let i = versions.length - 1; i >= 0; i--) {
      const v = versions[i]!;
      if (revision === undefined || v.rev <= revision)
        return v.value ? { key, value: v.value, modRevision: v.rev } : undefined;
    }
    return undefined;
  }

  put(key: string, value: Buffer): number {
    this.rev++;
    const versions = this.history.get(key) ?? [];
    versions.push({ rev: this.rev, value });
    this.history.set(key, versions);
    for (const w of this.watchers) if (key.startsWith(w.prefix)) w.fn({ key, value, modRevision: this.rev });
    return this.rev;
  }

  /** watch calls `fn` with every put under a prefix, in revision order; returns how to stop watching. */
  watch(prefix: string, fn: (kv: EtcdKv) => void): () => void {
    const w = { prefix, fn };
    this.watchers.add(w);
    return () => void this.watchers.delete(w);
  }

  delete(key: string): boolean {
    if (!this.get(key)) return false;
    this.rev++;
    this.history.get(key)!.push({ rev: this.rev, value: null });
    return true;
  }

  /** range lists live keys in [from, prefixEnd) in key order, at most `limit`, as of `revision` (default now). */
  range(
    prefix: string,
    options: { from?: string; limit?: number; revision?: number } = {},
  ): { kvs: EtcdKv[]; more: boolean } {
    const keys = [...this.history.keys()]
      .filter((k) => k.startsWith(prefix) && (options.from === undefined || k >= options.from))
      .sort();
    const kvs: EtcdKv[] = [];
    for (const k of keys) {
      const kv = this.get(k, options.revision);
      if (!kv) continue;
      if (options.limit !== undefined && kvs.length === options.limit) return { kvs, more: true };
      kvs.push(kv);
    }
    return { kvs, more: false };
  }

  /** compact drops history before a revision (default: now), keeping each key's latest version at that point. */
  compact(revision = this.rev): void {
    this.compacted = revision;
    for (const [key, versions] of this.history) {
      const keepFrom = versions.findLastIndex((v) => v.rev <= revision);
      if (keepFrom > 0) versions.splice(0, keepFrom);
      if (versions.length === 1 && versions[0]!.value === null && versions[0]!.rev <= revision)
        this.history.delete(key);
    }
  }
}
