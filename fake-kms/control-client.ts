import { request } from 'node:http';
import type { KeyVersion } from '../sim/index.js';
import type { AuditQuery, AuditRecord } from './audit.js';
import type { FakeKmsStatus } from './fake-kms.js';
import type { ActiveFault, FaultSpec } from './faults.js';
import type { DisabledKeyStatus } from './keyring-plugin.js';

/** ControlRequestError is a non-2xx answer from the control API; the message is the API's own explanation. */
export class ControlRequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ControlRequestError';
  }
}

/** KmsControlClient drives a fake KMS through its control socket: what the CLI and a Lab's `kms` use. */
export class KmsControlClient {
  /**
   * `timeoutMs` bounds each call (default 30 s): a plugin that accepts and never answers is reported, not waited on.
   * `hint` ends the message when nothing answers (what the caller can do about it).
   */
  constructor(
    readonly socketPath: string,
    readonly timeoutMs = 30_000,
    readonly hint = 'is the plugin running?',
  ) {}

  status = () => this.call<FakeKmsStatus>('GET', '/status');
  rotate = (key?: string) => this.call<KeyVersion>('POST', '/keys/rotate', key ? { key } : {});
  createKey = (name: string) => this.call<KeyVersion>('POST', '/keys', { name });
  useKey = (name: string) => this.call<KeyVersion>('POST', '/keys/use', { name });
  disable = (keyId: string) => this.call<KeyVersion>('POST', `/keys/${encodeURIComponent(keyId)}/disable`);
  enable = (keyId: string) => this.call<KeyVersion>('POST', `/keys/${encodeURIComponent(keyId)}/enable`);
  destroy = (keyId: string) => this.call<KeyVersion>('POST', `/keys/${encodeURIComponent(keyId)}/destroy`);
  faults = () => this.call<ActiveFault[]>('GET', '/faults');
  addFault = (spec: FaultSpec) => this.call<ActiveFault>('POST', '/faults', spec);
  clearFaults = (id?: string) => this.call<{ cleared: number }>('DELETE', id ? `/faults/${id}` : '/faults');
  stopPlugin = () => this.call<FakeKmsStatus>('POST', '/plugin/stop');
  startPlugin = () => this.call<FakeKmsStatus>('POST', '/plugin/start');
  setDisabledKeyStatus = (mode: DisabledKeyStatus) =>
    this.call<FakeKmsStatus>('PUT', '/settings', { disabledKeyStatus: mode });
  audit = (query: AuditQuery = {}) => {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined) params.set(k, v instanceof Date ? v.toISOString() : String(v));
    }
    const qs = params.toString();
    return this.call<AuditRecord[]>('GET', `/audit${qs ? `?${qs}` : ''}`);
  };
  counters = () => this.call<Record<string, Record<string, number>>>('GET', '/audit/counters');
  metrics = () => this.call<string>('GET', '/metrics');

  private call<T>(method: string, path: string, body?: unknown): Promise<T> {
    return requestJson<T>(this.socketPath, this.timeoutMs, 'fake-kms control API', method, path, body, (error) =>
      this.unreachable(error),
    );
  }

  private unreachable(error: Error): Error {
    return new ControlUnreachableError(
      `fake-kms control socket ${this.socketPath} does not answer (${error.message}); ${this.hint}`,
    );
  }
}

/**
 * requestJson sends one JSON request to an HTTP control API on a unix socket and returns the JSON answer; a non-2xx
 * answer becomes a ControlRequestError with the API's own explanation, and no answer at all goes through `unreachable`.
 */
export function requestJson<T>(
  socketPath: string,
  timeoutMs: number,
  apiName: string,
  method: string,
  path: string,
  body: unknown,
  unreachable: (error: Error) => Error,
): Promise<T> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath,
        path,
        method,
        timeout: timeoutMs,
        headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (error) => reject(unreachable(error)));
        res.on('end', () => {
          const status = res.statusCode ?? 500;
          const text = Buffer.concat(chunks).toString('utf8');
          let value: unknown = text;
          if ((res.headers['content-type'] ?? '').includes('json') && text) {
            try {
              value = JSON.parse(text);
            } catch {
              reject(new ControlRequestError(502, `${apiName} answered ${status} with a body that is not JSON`));
              return;
            }
          }
          if (status >= 300) {
            const error = (value as { error?: unknown } | undefined)?.error;
            reject(new ControlRequestError(status, typeof error === 'string' ? error : String(text).slice(0, 300)));
          } else resolve(value as T);
        });
      },
    );
    req.once('timeout', () => req.destroy(new Error(`no answer within ${Math.round(timeoutMs / 1000)} s`)));
    req.on('error', (error) => reject(unreachable(error)));
    req.end(payload);
  });
}

/** ControlUnreachableError: nothing answered on the control socket (the plugin process is gone or stuck). */
export class ControlUnreachableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ControlUnreachableError';
  }
}
