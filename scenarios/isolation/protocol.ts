import type { EncryptionRule } from '../../harness/kube/encryption-config.js';
import type { KmsCapability, Lab, LabApi, LabApiserver, LabEtcd, LabKms } from '../../harness/lab.js';
import type { Evidence, LabNeeds, ScenarioParams, StepRecord } from '../model.js';

// The messages between the runner and the process that runs a user's scenario file. The lab stays in the runner's
// process (so it can always be stopped); the scenario's code reaches it through these calls.

/** LabShape is what a Lab answers without a call: sent once, when the scenario starts. */
export interface LabShape {
  name: string;
  backend: Lab['backend'];
  providerName: string;
  kmsSocket: string;
  kmsRules?: EncryptionRule[];
  apiservers: Array<{ name: string; running: boolean }>;
  capabilities: KmsCapability[];
  lacks: Partial<Record<KmsCapability, string>>;
  /** The sim's virtual clock: time moves only in the runner's process, and each reply says where it is. */
  virtualClock: boolean;
  now: number;
  canKillEtcd: boolean;
}

/** labIdentity is the part of a lab's shape that names it, copied alike on both sides. */
export function labIdentity(lab: Pick<Lab, 'name' | 'backend' | 'providerName' | 'kmsSocket' | 'kmsRules'>) {
  return {
    name: lab.name,
    backend: lab.backend,
    providerName: lab.providerName,
    kmsSocket: lab.kmsSocket,
    ...(lab.kmsRules ? { kmsRules: lab.kmsRules } : {}),
  };
}

/** ScenarioSummary is a scenario as loading a file found it: all but its code. */
export interface ScenarioSummary {
  file: string;
  index: number;
  name: string;
  summary: string;
  proves: string;
  tags: string[];
  needs: LabNeeds;
}

/** WireError is an error as it crosses: enough to rebuild ApiError and KmslabError on the other side. */
export interface WireError {
  name: string;
  message: string;
  status?: number;
  reason?: string;
  code?: string;
}

export type ToChild =
  | { type: 'load'; files: string[] }
  | { type: 'run'; file: string; index: number; name: string; lab: LabShape; params: ScenarioParams; namespace: string }
  | { type: 'reply'; id: number; value?: unknown; error?: WireError; now: number; running: boolean[] };

export type FromChild =
  | { type: 'importing'; file: string }
  | { type: 'loaded'; scenarios: ScenarioSummary[] }
  | { type: 'load-failed'; message: string }
  /** The scenario's file is loaded and its code starts: the step deadline counts from here. */
  | { type: 'started' }
  | { type: 'call'; id: number; target: string; method: string; args: unknown[] }
  | { type: 'waiting'; step: string; what: string; remainingMs: number }
  | { type: 'finished'; error?: StepRecord['error'] }
  /** The scenario's code broke its process: an unhandled rejection, an uncaught exception, a wait on nothing. */
  | { type: 'fatal'; message: string };

/** StepEnd is a step's outcome as the scenario's process reports it (evidence already a JSON snapshot). */
export type StepEnd = [id: number, outcome: StepRecord['outcome'], evidence: Evidence, error?: StepRecord['error']];

// The methods a scenario may call, per part of the lab; each list must name every method of its interface.
export const API_METHODS = [
  'ensureNamespace',
  'createSecret',
  'readSecret',
  'updateSecret',
  'deleteSecret',
  'listSecrets',
  'request',
] as const satisfies ReadonlyArray<keyof LabApi>;
export const ETCD_METHODS = ['get', 'getAt', 'compact', 'put', 'inspect'] as const satisfies ReadonlyArray<
  keyof LabEtcd
>;
export const KMS_METHODS = [
  'status',
  'rotate',
  'disable',
  'enable',
  'destroy',
  'addFault',
  'clearFaults',
  'setDisabledKeyStatus',
  'stopPlugin',
  'startPlugin',
  'restart',
  'audit',
] as const satisfies ReadonlyArray<keyof LabKms>;
export const APISERVER_METHODS = ['start', 'stop', 'restart', 'setEncryption'] as const satisfies ReadonlyArray<
  keyof LabApiserver
>;

// Compile-time checks that no method is missing from a list (a new Lab method must be added here too).
type Covers<I, L extends readonly unknown[], Sync extends keyof I = never> = [
  Exclude<keyof I, L[number] | Sync>,
] extends [never]
  ? true
  : Exclude<keyof I, L[number] | Sync>;
export const COVERED: [
  Covers<LabApi, typeof API_METHODS>,
  Covers<LabEtcd, typeof ETCD_METHODS, 'scan'>,
  Covers<LabKms, typeof KMS_METHODS, 'capabilities' | 'lacks' | 'cloud'>,
  Covers<LabApiserver, typeof APISERVER_METHODS, 'name' | 'api' | 'running'>,
] = [true, true, true, true];

/** toWire describes an error for the other process. */
export function toWire(error: unknown): WireError {
  const e = error as Partial<WireError> | undefined;
  return {
    name: typeof e?.name === 'string' ? e.name : 'Error',
    message: messageOf(error),
    ...(typeof e?.status === 'number' ? { status: e.status } : {}),
    ...(typeof e?.reason === 'string' ? { reason: e.reason } : {}),
    ...(typeof e?.code === 'string' ? { code: e.code } : {}),
  };
}

/** messageOf is an error's message, whatever was thrown (a string, undefined, an object without toString). */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  try {
    return `threw ${typeof error === 'string' ? JSON.stringify(error) : String(error)}`;
  } catch {
    return `threw a ${typeof error} that cannot be shown`;
  }
}

/**
 * asBuffers turns the Uint8Arrays a message arrives with back into Buffers (structured clone keeps the bytes but not
 * the class), so Secret data and raw etcd values are what a Lab promises.
 */
export function asBuffers<T>(value: T, seen = new Set<object>()): T {
  if (value instanceof Uint8Array) {
    return (Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength)) as T;
  }
  if (value === null || typeof value !== 'object' || seen.has(value)) return value;
  seen.add(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = asBuffers(value[i], seen);
  } else if (Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null) {
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) record[key] = asBuffers(record[key], seen);
  }
  return value;
}
