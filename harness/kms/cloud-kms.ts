import { CloudControlClient } from '../../cloud/control-client.js';
import { KMS_CAPABILITIES, type KmsCapability, type LabKms } from '../lab.js';
import { CLOUD_CAPABILITIES, type LabCloud, type CloudName } from './lab-cloud.js';

/** CloudRecord is a lab's cloud as lab.json keeps it: enough for any process to drive the emulator. */
export interface CloudRecord {
  name: CloudName;
  /** The emulator's control socket (private to the lab's owner). */
  control: string;
  /** The emulator's state dir: keys, identities, CA, credentials files, its audit trail. */
  stateDir: string;
  principal: string;
  keyId: string;
  /** The role the cluster's plugin calls as (expire-credentials ends its sessions by default). */
  role: string;
  /** Cloud calls per Status of kmslab's own plugin (none for a user's plugin). */
  statusCalls?: { encrypt: number; decrypt: number };
  /** How often kmslab's plugin fetches new temporary credentials, when it does so on an interval (Alibaba). */
  credentialRefreshMs?: number;
}

const CLUSTER_PERMISSIONS = ['encrypt', 'decrypt', 'describe'] as const;

/** labCloud is LabCloud over a running emulator's control socket. */
export function labCloud(record: CloudRecord, client = new CloudControlClient(record.control)): LabCloud {
  const key = (k?: string) => k ?? record.keyId;
  return {
    name: record.name,
    principal: record.principal,
    keyId: record.keyId,
    ...(record.statusCalls ? { statusCalls: record.statusCalls } : {}),
    ...(record.credentialRefreshMs ? { credentialRefreshMs: record.credentialRefreshMs } : {}),
    clusterPermissions: [...CLUSTER_PERMISSIONS],
    grant: (spec) => client.grant(spec),
    revoke: (spec) => client.revoke(spec),
    disable: (k) => client.disable(key(k)),
    enable: (k) => client.enable(key(k)),
    scheduleDeletion: (k, window) => client.scheduleDeletion(key(k), window),
    cancelDeletion: (k) => client.cancelDeletion(key(k)),
    rotate: (k) => client.rotate(key(k)),
    expireCredentials: (filter) => client.expireCredentials(filter ?? { role: record.role }),
    addFault: (spec) => client.addFault(spec),
    clearFaults: (id) => client.clearFaults(id),
    audit: (query) => client.audit(query),
  };
}

/**
 * withCloud adds a cloud to a lab's KMS: the `cloud-*` capabilities, and `cloud` once the emulator has started
 * (`record` says so).
 */
export function withCloud(kms: LabKms, record: () => CloudRecord | undefined): LabKms {
  const lacks = (cap: KmsCapability) =>
    (CLOUD_CAPABILITIES as readonly string[]).includes(cap)
      ? record()
        ? undefined
        : "the lab's cloud emulator has not started"
      : kms.lacks(cap);
  return {
    ...kms,
    lacks,
    get capabilities() {
      return new Set(KMS_CAPABILITIES.filter((cap) => !lacks(cap)));
    },
    get cloud() {
      const r = record();
      return r && labCloud(r);
    },
  };
}
