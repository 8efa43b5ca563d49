import { ControlUnreachableError, requestJson } from '../fake-kms/control-client.js';
import type { AuditEntry, AuditQuery } from './core/audit-log.js';
import type { ActiveCloudFault, CloudFaultSpec } from './core/faults.js';
import type { Grant, GrantSpec, RevokeSpec } from './core/grants.js';
import type { KeyView } from './core/keys.js';

/** CloudControlClient drives a running cloud emulator through its control socket: what the CLI, labs and chaos use. */
export class CloudControlClient {
  constructor(
    readonly socketPath: string,
    readonly timeoutMs = 30_000,
  ) {}

  status = () => this.call<Record<string, unknown>>('GET', '/status');
  /** connection: what an SDK client needs, secrets included. */
  connection = <T = Record<string, unknown>>() => this.call<T>('GET', '/connection');
  keys = () => this.call<KeyView[]>('GET', '/keys');
  createKey = (description?: string) => this.call<KeyView>('POST', '/keys', description ? { description } : {});
  disable = (key: string) => this.keyAction<KeyView>(key, 'disable');
  enable = (key: string) => this.keyAction<KeyView>(key, 'enable');
  rotate = (key: string) => this.keyAction<{ key: KeyView; versionId: string }>(key, 'rotate');
  cancelDeletion = (key: string) => this.keyAction<KeyView>(key, 'cancel-deletion');
  /** scheduleDeletion: `window` is a duration such as 7d or 30s (the control API allows any; the cloud API 7–366 days). */
  scheduleDeletion = (key: string, window = '7d') => this.keyAction<KeyView>(key, 'schedule-deletion', { window });
  grants = () => this.call<Grant[]>('GET', '/grants');
  grant = (spec: GrantSpec) => this.call<Grant>('POST', '/grants', spec);
  revoke = (spec: RevokeSpec) => this.call<{ changed: number }>('POST', '/grants/revoke', spec);
  /** expireCredentials ends temporary credentials now (of one role or access key, else all). */
  expireCredentials = (filter: { role?: string; accessKeyId?: string } = {}) =>
    this.call<{ expired: number }>('POST', '/credentials/expire', filter);
  /** capSessions makes new sessions last at most `maxSeconds` (null: no cap). */
  capSessions = (maxSeconds: number | null) =>
    this.call<{ maxSeconds: number | null }>('PUT', '/credentials/session-cap', { maxSeconds });
  faults = () => this.call<ActiveCloudFault[]>('GET', '/faults');
  addFault = (spec: CloudFaultSpec) => this.call<ActiveCloudFault>('POST', '/faults', spec);
  clearFaults = (id?: string) =>
    this.call<{ cleared: number }>('DELETE', id ? `/faults/${encodeURIComponent(id)}` : '/faults');
  audit = <E = Record<string, unknown>>(query: AuditQuery = {}) => {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
    const qs = params.toString();
    return this.call<AuditEntry<E>[]>('GET', `/audit${qs ? `?${qs}` : ''}`);
  };
  auditCounts = () => this.call<Record<string, Record<string, number>>>('GET', '/audit/counts');

  private keyAction<T>(key: string, action: string, body?: unknown): Promise<T> {
    return this.call<T>('POST', `/keys/${encodeURIComponent(key)}/${action}`, body);
  }

  private call<T>(method: string, path: string, body?: unknown): Promise<T> {
    return requestJson<T>(
      this.socketPath,
      this.timeoutMs,
      'cloud control API',
      method,
      path,
      body,
      (error) =>
        new ControlUnreachableError(
          `cloud control socket ${this.socketPath} does not answer (${error.message}); is the emulator running (kmslab cloud serve …)?`,
        ),
    );
  }
}
