/**
 * The anomalies the checker names, each with what it means. An invariant holds when none of its anomalies was
 * found; each anomaly found carries its evidence (keys, apiservers, times in ms since the run began, digests —
 * never a value).
 */
export const ANOMALIES = {
  'lost-acknowledged-write':
    'an acknowledged write is not what a later read or the state after recovery shows, and no write of unknown outcome explains it',
  'stale-read': 'a read returned a value that an acknowledged write had already replaced',
  'absent-read': 'a read found no Secret (404) although its create was acknowledged and no delete could have landed',
  'never-written-read': 'a read returned a value never written to that Secret before the read ended',
  'failed-write-visible': 'a read returned the value of a write whose answer proved it was not applied',
  'plaintext-at-rest': 'a Secret is stored in etcd as plaintext',
  'wrong-provider-at-rest': 'a Secret is stored in etcd in another format than KMS v2 under the configured provider',
  'unknown-key-id-at-rest': 'a Secret is stored under a key_id the KMS never reported',
  'undecryptable-at-rest': 'a Secret is stored under a key_id the KMS can no longer open (disabled or destroyed)',
  'unreadable-after-recovery': 'after recovery, with every apiserver restarted, an apiserver could not read a Secret',
  'kms-call-storm': 'the apiservers called the KMS more often a second than the bound',
  'unhealthy-not-reported':
    'an apiserver said its KMS was healthy while every Status the plugin answered failed, past the probe cache',
  'healthy-not-reported':
    'an apiserver said its KMS was unhealthy while the plugin answered every call healthy, past every cache and reconnect delay',
  'fault-not-applied': 'the nemesis could not apply or heal a fault, so the run did not test what it claims',
} as const;

export type AnomalyName = keyof typeof ANOMALIES;

/** Anomaly is one thing found wrong, with its evidence. */
export interface Anomaly {
  name: AnomalyName;
  key?: string;
  apiserver?: string;
  /** When, in ms since the run began. */
  at?: number;
  [evidence: string]: unknown;
}
