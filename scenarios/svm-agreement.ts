import type { Lab } from '../harness/lab.js';
import { keyIdHash } from '../sim/index.js';
import { storedAs } from './checks.js';
import { ScenarioFailure } from './error-class.js';
import type { Evidence } from './model.js';
import { metricsDelta, scrapeMetrics, type MetricsScrape } from './step-metrics.js';

const SECRETS = '/registry/secrets/';

/**
 * MigrationWrites checks a StorageVersionMigration against the nearest evidence the real programs give. Measured on
 * v1.37.2: kube-controller-manager's storage-version-migrator-controller exports no migrated or remaining metric (its
 * /metrics has only the workqueue series), and the "N/M objects not yet migrated" of its Running condition is
 * replaced by "Migration completed" once it succeeds. What stays: each stale object it migrated is one write that
 * the apiserver counts under the new key_id's hash (apiserver_envelope_encryption_key_id_hash_total, to_storage),
 * while objects already on the key are patched without a write. So the writes counted during the migration must
 * equal the Secrets raw etcd held off the key before it, plus the scenario's own writes meanwhile (a nudge).
 */
export class MigrationWrites {
  private constructor(
    private readonly keyId: string,
    private readonly before: MetricsScrape,
    readonly staleBefore: number,
  ) {}

  /** start takes the apiservers' counters and counts the Secrets in raw etcd not yet on `keyId`. */
  static async start(lab: Lab, keyId: string): Promise<MigrationWrites> {
    const before = await scrapeMetrics(lab);
    const s = await storedAs(lab, SECRETS);
    return new MigrationWrites(keyId, before, s.total - (s.byKeyId[lab.providerName]?.[keyId] ?? 0));
  }

  /**
   * expectAgrees fails unless the writes every apiserver counted under the key_id's hash since `start` are exactly
   * the stale Secrets plus `ownWrites`: fewer means objects were left or written elsewhere, more means something
   * besides the migration wrote.
   */
  async expectAgrees(lab: Lab, ownWrites: number): Promise<Evidence> {
    const hash = keyIdHash(this.keyId);
    const delta = metricsDelta(this.before, await scrapeMetrics(lab));
    let counted = 0;
    for (const [apiserver, d] of Object.entries(delta)) {
      if ('unavailable' in d) throw new ScenarioFailure(`${apiserver}'s metrics were unreadable: ${d.unavailable}`);
      counted += d.keyIdHashes[`to_storage ${hash}`] ?? 0;
    }
    const expected = this.staleBefore + ownWrites;
    const ev = { writesCountedUnderKeyIdHash: counted, staleInEtcdBefore: this.staleBefore, ownWrites };
    if (counted !== expected) {
      throw new ScenarioFailure(
        `the apiservers counted ${counted} writes under key_id hash ${hash} during the migration, but raw etcd held ${this.staleBefore} Secrets off key ${this.keyId} before it and the scenario wrote ${ownWrites}: ${
          counted > expected
            ? `${counted - expected} writes came from something else`
            : `${expected - counted} were never rewritten`
        }`,
      );
    }
    return ev;
  }
}

/** counted wraps a write so the number of times it ran can be read back (a nudge that may or may not be needed). */
export function counted(write: () => Promise<unknown>): { write: () => Promise<unknown>; readonly times: number } {
  let times = 0;
  return {
    write: () => {
      times++;
      return write();
    },
    get times() {
      return times;
    },
  };
}
