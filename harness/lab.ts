import type {
  AuditQuery,
  AuditRecord,
  FaultSpec,
  ActiveFault,
  FakeKmsStatus,
  DisabledKeyStatus,
} from '../fake-kms/index.js';
import type { KeyVersion } from '../sim/index.js';
import type { InspectReport } from './inspect/index.js';
import type { EtcdPage } from './inspect/index.js';
import type { EncryptionRule } from './kube/encryption-config.js';
import { CLOUD_CAPABILITIES, type LabCloud } from './kms/lab-cloud.js';

/**
 * Lab is what a scenario sees, whatever the backend: the Kubernetes API, raw etcd, the fake KMS, each apiserver,
 * and a clock (virtual on the sim backend, real elsewhere). Scenarios use nothing else.
 */
export interface Lab extends AsyncDisposable {
  readonly name: string;
  readonly backend: 'local' | 'sim' | 'kind' | 'compose';
  /** The KMS v2 provider name in the encryption config: values are stored as `k8s:enc:kms:v2:<providerName>:`. */
  readonly providerName: string;
  /** The plugin's socket path as the apiserver sees it, for building EncryptionConfigurations. */
  readonly kmsSocket: string;
  /** The rules that turn KMS on in this lab when they are not the default (KMS v2 then identity, for Secrets). */
  readonly kmsRules?: EncryptionRule[];
  /** A KMS v1 plugin beside the v2 one, in labs that start on KMS v1 (`needs.encryption: 'kms-v1'`). */
  readonly kmsV1?: LabKmsV1;
  /** The API through the first apiserver. */
  readonly api: LabApi;
  readonly etcd: LabEtcd;
  readonly kms: LabKms;
  readonly apiservers: LabApiserver[];
  readonly clock: LabClock;
  /**
   * killEtcd kills etcd with SIGKILL (a crashed node) where the backend can; `restart` starts it again on the same
   * data and address. Absent where etcd is not a process kmslab runs (sim: its etcd is memory).
   */
  killEtcd?(): Promise<{ restart(): Promise<void> }>;
  /**
   * upgradeApiservers restarts every apiserver, one at a time and each waited ready, on another kube-apiserver
   * version (a rolling upgrade, or a rollback), on the same etcd, plugin and flags. Local labs only.
   */
  upgradeApiservers?(k8sVersion: string): Promise<void>;
  /** collectLogs copies every log the lab has (apiserver, etcd, plugin, audit trail) into dir; returns the files. */
  collectLogs(dir: string): Promise<string[]>;
  close(): Promise<void>;
}

/** What a scenario needs from its lab; the runner starts a lab that fits, on whatever backend was chosen. */
export interface LabNeeds {
  /**
   * How Secrets are stored when the lab starts: KMS v2 then identity (default), identity only, or KMS v1 then
   * identity (a legacy cluster: the KMSv1 gate on, a v1 plugin beside the v2 one; local labs only).
   */
  encryption?: 'kms' | 'identity' | 'kms-v1';
  apiservers?: number;
  /** What the scenario asks of the KMS beyond calls, faults and audit (a lab lacking one skips the scenario). */
  kms?: KmsCapability[];
  /**
   * What kind of apiserver the scenario needs (default either): `real` for what the sim does not model (RBAC, delete
   * options, feature gates), `model` for spans of time only virtual time allows (its results are a model's). A lab
   * of the other kind skips the scenario.
   */
  apiserver?: 'real' | 'model';
  /** kube-apiserver feature gates to set (`--feature-gates`); only labs that take apiserver flags can. */
  featureGates?: Record<string, boolean>;
  /** kube-controller-manager controllers the lab runs (none by default; local labs only). */
  controllers?: LabController[];
  /**
   * The kube-apiserver version the lab starts on, when it must be another than the lab's default (a scenario that
   * upgrades from an older release). Local labs only; built from its pinned Go modules on first use.
   */
  k8sVersion?: string;
  /**
   * KMS v2 plugins the scenario runs (default 1). The ones past the lab's own run in kmslab's process, their sockets
   * beside the lab's, which only a local lab's apiserver can dial.
   */
  plugins?: number;
}

/** The kube-controller-manager controllers a lab can run, by upstream's names. */
export const LAB_CONTROLLERS = [
  'namespace-controller',
  'garbage-collector-controller',
  'storage-version-migrator-controller',
] as const;
export type LabController = (typeof LAB_CONTROLLERS)[number];

export interface ObjectRef {
  namespace: string;
  name: string;
}

/** ApiError is a failed API call: the HTTP status and the apiserver's own message (e.g. the KMS error text). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly reason?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface StoredSecret {
  ref: ObjectRef;
  data: Record<string, Buffer>;
  resourceVersion: string;
}

export interface HttpAnswer {
  status: number;
  body: string;
}

/**
 * RequestOptions: `signal` aborts a call (its connection is closed). A write aborted in flight may still have
 * happened: the caller cannot know.
 */
export interface RequestOptions {
  signal?: AbortSignal;
}

/** RawRequestOptions: `impersonate` makes the call as another user (the lab's admin may impersonate anyone). */
export interface RawRequestOptions {
  impersonate?: { user: string; groups?: string[] };
}

/** LabApi is the slice of the Kubernetes API the scenarios need. Failures throw ApiError. */
export interface LabApi {
  ensureNamespace(name: string): Promise<void>;
  createSecret(ref: ObjectRef, data: Record<string, Buffer | string>, options?: RequestOptions): Promise<StoredSecret>;
  /** readSecret is a plain GET without resourceVersion: it reads etcd and decrypts (no watch cache). */
  readSecret(ref: ObjectRef, options?: RequestOptions): Promise<StoredSecret>;
  /** updateSecret PUTs the secret with new data, or unchanged when data is omitted (a migration rewrite). */
  updateSecret(ref: ObjectRef, data?: Record<string, Buffer | string>, options?: RequestOptions): Promise<StoredSecret>;
  deleteSecret(ref: ObjectRef, options?: RequestOptions): Promise<void>;
  listSecrets(namespace?: string): Promise<ObjectRef[]>;
  /** request is a raw call with the lab's credentials (or as another user), for health checks, metrics and the rest. */
  request(method: string, path: string, body?: unknown, options?: RawRequestOptions): Promise<HttpAnswer>;
}

export interface LabEtcd {
  get(key: string): Promise<Buffer | null>;
  /** getAt reads a key as it was at a revision (etcd keeps history until compaction); throws once compacted. */
  getAt(key: string, revision: string): Promise<Buffer | null>;
  /** compact drops history before a revision (default: the current one). */
  compact(revision?: string): Promise<void>;
  put(key: string, value: Buffer): Promise<void>;
  scan(prefix: string): AsyncIterable<EtcdPage>;
  inspect(prefix?: string): Promise<InspectReport>;
}

/**
 * What a lab's KMS can do beyond serving calls, faults and an audit trail (which every lab has: the fake KMS, or
 * the proxy in front of an external plugin). The fake KMS can do everything; an external plugin what its hooks allow.
 */
export const KMS_CAPABILITIES = [
  'rotate',
  'disable',
  'enable',
  'destroy',
  'restart',
  'disabled-key-status',
  ...CLOUD_CAPABILITIES,
] as const;
export type KmsCapability = (typeof KMS_CAPABILITIES)[number];

/** LabKmsStatus is what every lab's KMS reports; the fake KMS adds its key versions and settings. */
export type LabKmsStatus = Pick<FakeKmsStatus, 'keyId' | 'listening' | 'faults' | 'calls'> & Partial<FakeKmsStatus>;

/** KeyRef names a key version; the fake KMS says everything it knows about it, a hook only its key_id. */
export type KeyRef = { keyId: string } & Partial<KeyVersion>;

/**
 * LabKms drives the lab's KMS: the fake KMS plugin, or a proxy in front of an external plugin whose key lifecycle
 * runs through the user's hook commands. A call a lab cannot make throws; `lacks` says what would enable it.
 */
export interface LabKms {
  readonly capabilities: ReadonlySet<KmsCapability>;
  /** lacks says why a capability is missing ("needs --disable-cmd"), or undefined when it is there. */
  lacks(capability: KmsCapability): string | undefined;
  status(): Promise<LabKmsStatus>;
  rotate(key?: string): Promise<KeyRef>;
  disable(keyId: string): Promise<KeyRef>;
  enable(keyId: string): Promise<KeyRef>;
  destroy(keyId: string): Promise<KeyRef>;
  addFault(spec: FaultSpec): Promise<ActiveFault>;
  clearFaults(id?: string): Promise<void>;
  setDisabledKeyStatus(mode: DisabledKeyStatus): Promise<void>;
  /** stopPlugin removes the plugin's gRPC socket (the process and its control API stay up). */
  stopPlugin(): Promise<void>;
  startPlugin(): Promise<void>;
  /** restart kills the plugin process (SIGKILL) and starts it again on the same state (or runs --restart-cmd). */
  restart(): Promise<void>;
  audit(query?: AuditQuery): Promise<AuditRecord[]>;
  /** The cloud KMS behind the plugin (`--cloud`), when the lab has one: the `cloud-*` capabilities act on it. */
  readonly cloud?: LabCloud;
}

/** LabKmsV1 is a lab's KMS v1 plugin: where it listens, what it answered, and a way to stop it for good. */
export interface LabKmsV1 {
  readonly socket: string;
  /** The provider name its values carry (`k8s:enc:kms:v1:<name>:`). */
  readonly providerName: string;
  /** Calls answered so far; the health probe's "ping" is counted apart from DEKs. */
  calls(): { version: number; encryptDek: number; decryptDek: number; encryptPing: number; decryptPing: number };
  stop(): Promise<void>;
}

export type ConfigChange = 'reload' | 'restart';

/**
 * What a (re)start waits for: `ready` = /readyz 200, which needs a healthy KMS; `live` = /livez 200, which does not
 * (the KMS check is on /readyz and /healthz only), for starting while the plugin is down or its key disabled.
 */
export type StartWait = 'ready' | 'live';

export interface LabApiserver {
  readonly name: string;
  readonly api: LabApi;
  readonly running: boolean;
  start(wait?: StartWait): Promise<void>;
  stop(): Promise<void>;
  restart(wait?: StartWait): Promise<void>;
  /**
   * setEncryption writes a new EncryptionConfiguration. `reload` waits until the running apiserver has loaded it
   * (automatic reload); `restart` restarts the apiserver on it.
   */
  setEncryption(rules: EncryptionRule[], how: ConfigChange): Promise<void>;
}

export interface LabClock {
  now(): number;
  sleep(ms: number): Promise<void>;
  /** A cancellable sleep, to race a call against a deadline without leaving the timer behind. */
  timeout(ms: number): { done: Promise<void>; cancel: () => void };
  waitFor<T>(
    check: () => Promise<T | undefined>,
    options: { timeoutMs: number; intervalMs?: number; what: string },
  ): Promise<T>;
}
