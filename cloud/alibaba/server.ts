import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CloudError } from '../core/cloud-error.js';
import { HttpsFront, readBody } from '../core/https-front.js';
import { principalOf, type Caller } from '../core/identities.js';
import type { RequestEffects } from '../core/faults.js';
import { eventCategoryOf, eventRWOf, safeParameters, userIdentityOf, type ActionTrailEvent } from './actiontrail.js';
import { AlibabaError, errors, fromCloudError } from './errors.js';
import { KMS_ACTIONS, KMS_VERSION, type AlibabaCore, type ApiCall, type ApiResult } from './kms-api.js';
import {
  acs3Signature,
  acs3StringToSign,
  parseAcs3,
  rpcSignature,
  rpcStringToSign,
  sameText,
  sha256Hex,
} from './signature.js';
import { STS_ACTIONS, STS_VERSION } from './sts-api.js';

// The service refuses a request whose time is more than 15 minutes off, and a nonce seen within that window.
const SKEW_MS = 15 * 60_000;

/** What a request claims before it is checked: enough to name the action and the caller in the audit trail. */
interface Claim {
  action: string;
  version: string;
  accessKeyId?: string;
  token?: string;
  nonce?: string;
  timestamp?: string;
  check(secret: string): AlibabaError | undefined;
}

export interface AlibabaServerOptions {
  core: AlibabaCore;
  key: string;
  cert: string;
  /** The host name the endpoint stands for in audit events (eventSource), e.g. kms-vpc.cn-hangzhou.aliyuncs.com. */
  hostName: string;
  /** The path that serves temporary credentials to the credentials-URI provider (a secret path). */
  credentialsPath: string;
  randomBytes(n: number): Buffer;
}

/**
 * AlibabaServer speaks the Alibaba Cloud KMS and STS RPC APIs over HTTPS: signatures (version 1.0 HMAC-SHA1, and
 * ACS3-HMAC-SHA256), timestamps, nonces and security tokens are checked as the service checks them, faults are applied
 * at the connection and request level, and every call becomes an ActionTrail-shaped audit event.
 */
export class AlibabaServer {
  readonly front: HttpsFront;
  private readonly nonces = new Map<string, number>();

  constructor(private readonly o: AlibabaServerOptions) {
    this.front = new HttpsFront(o.core.faults, o, (req, res) => void this.handle(req, res));
  }

  listenOn(asked: number, last: number | undefined): Promise<number> {
    return this.front.listenOn(asked, last);
  }

  close(): Promise<void> {
    return this.front.close();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID().toUpperCase();
    const started = this.o.core.now();
    let body: Buffer;
    try {
      body = await readBody(req);
    } catch {
      return void req.socket.destroy();
    }
    const url = new URL(req.url ?? '/', 'https://emulator');
    if (req.method === 'GET' && url.pathname === this.o.credentialsPath) return this.credentials(req, res, requestId);
    const params = Object.fromEntries(url.searchParams);
    if ((req.headers['content-type'] ?? '').includes('application/x-www-form-urlencoded'))
      Object.assign(params, Object.fromEntries(new URLSearchParams(body.toString('utf8'))));
    const claim = claimOf(req, url, params, body);
    const effects = this.o.core.faults.onRequest(claim.action);
    let caller: Caller | undefined;
    let result: ApiResult | undefined;
    let error: AlibabaError | undefined;
    try {
      const refuse = {
        outage: errors.unavailable,
        throttled: claim.version === STS_VERSION ? errors.throttling : errors.kmsThrottling,
        injected: (e: { status: number; code?: string; message?: string }) =>
          new AlibabaError(
            e.status,
            e.code ?? (e.status >= 500 ? 'InternalFailure' : 'InvalidParameter'),
            e.message ?? 'Injected by kmslab.',
          ),
      };
      if (await this.front.faulted(effects, req, refuse)) return;
      if (req.method !== 'GET' && req.method !== 'POST') throw errors.unsupportedMethod();
      caller = this.authenticate(claim);
      result = await this.dispatch(claim, caller, params);
    } catch (e) {
      error = asAlibabaError(e);
    }
    if (!res.writable || req.socket.destroyed) return;
    const answer = error
      ? {
          RequestId: requestId,
          HostId: hostOf(req, this.o.hostName),
          Code: error.code,
          Message: error.message,
          Recommend: recommend(error.code),
        }
      : { RequestId: requestId, ...result!.body };
    res.writeHead(error?.status ?? 200, {
      'content-type': 'application/json;charset=utf-8',
      'x-acs-request-id': requestId,
    });
    res.end(JSON.stringify(answer));
    this.record(req, claim, params, requestId, started, caller, result, error, effects);
  }

  private authenticate(claim: Claim): Caller {
    if (!claim.accessKeyId) throw errors.missingParameter('AccessKeyId');
    let resolved;
    try {
      resolved = this.o.core.identities.resolve(claim.accessKeyId, claim.token || undefined);
    } catch (e) {
      throw asAlibabaError(e);
    }
    if (!claim.timestamp) throw errors.missingTimestamp();
    const at = Date.parse(claim.timestamp);
    if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(claim.timestamp) || Number.isNaN(at))
      throw errors.timestampFormat();
    const now = this.o.core.now();
    if (Math.abs(now - at) > SKEW_MS) throw errors.timestampExpired();
    const bad = claim.check(resolved.secret);
    if (bad) throw bad;
    if (!claim.nonce) throw errors.missingParameter('SignatureNonce');
    const nonceKey = `${claim.accessKeyId}\n${claim.nonce}`;
    // Nonces are kept in arrival order, so the expired ones are at the front: stop at the first one still fresh.
    for (const [k, t] of this.nonces) {
      if (now - t <= SKEW_MS) break;
      this.nonces.delete(k);
    }
    if (this.nonces.has(nonceKey)) throw errors.signatureNonceUsed();
    this.nonces.set(nonceKey, now);
    return resolved.caller;
  }

  private async dispatch(claim: Claim, caller: Caller, params: Record<string, string>): Promise<ApiResult> {
    const call: ApiCall = { core: this.o.core, caller, params, randomBytes: this.o.randomBytes };
    if (claim.version === STS_VERSION && STS_ACTIONS[claim.action]) return STS_ACTIONS[claim.action]!(call);
    const spec = claim.version === KMS_VERSION ? KMS_ACTIONS[claim.action] : undefined;
    if (!spec) throw errors.apiNotFound(claim.action, claim.version);
    const key = spec.key(call);
    if (!this.o.core.grants.allows(caller, spec.permission, key)) throw errors.noPermission();
    return spec.run(call);
  }

  // credentials serves the credentials-URI provider: a fresh session of the cluster's role, in the JSON shape the
  // Alibaba SDKs read. The path is the secret; the listener is on 127.0.0.1 only.
  private async credentials(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
    const effects = this.o.core.faults.onRequest('CredentialsURI');
    const core = this.o.core;
    let status = 200;
    let answer: Record<string, unknown>;
    if (await this.front.held(effects, req)) return;
    if (effects.reset) return this.front.reset(req);
    if (effects.outage || effects.error || effects.throttle) {
      status = effects.error?.status ?? 503;
      answer = {
        Code: effects.throttle ? 'Throttling' : 'ServiceUnavailable',
        Message: 'credentials are not available now',
      };
    } else {
      const s = await core.mutate(() =>
        core.identities.assumeRole(core.front.clusterUser, core.front.role, 'credentials-uri', 3600),
      );
      answer = {
        Code: 'Success',
        AccessKeyId: s.accessKeyId,
        AccessKeySecret: s.secret,
        SecurityToken: s.token,
        Expiration: new Date(s.expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z'),
        LastUpdated: new Date(s.issuedAt).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      };
    }
    res.writeHead(status, { 'content-type': 'application/json;charset=utf-8', 'x-acs-request-id': requestId });
    res.end(JSON.stringify(answer));
  }

  private record(
    req: IncomingMessage,
    claim: Claim,
    params: Record<string, string>,
    requestId: string,
    started: number,
    caller: Caller | undefined,
    result: ApiResult | undefined,
    error: AlibabaError | undefined,
    effects: RequestEffects,
  ): void {
    const sts = claim.version === STS_VERSION;
    const keyId =
      result?.keyId ?? (params.KeyId && !params.KeyId.startsWith('acs:') ? params.KeyId.slice(0, 128) : undefined);
    const event: ActionTrailEvent = {
      eventId: randomUUID().toUpperCase(),
      eventVersion: 1,
      eventName: claim.action.slice(0, 64),
      eventSource: sts ? `sts.${this.o.core.front.region}.aliyuncs.com` : this.o.hostName,
      eventType: 'ApiCall',
      eventCategory: eventCategoryOf(claim.action),
      eventRW: eventRWOf(claim.action),
      eventTime: new Date(started).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      apiVersion: claim.version.slice(0, 16),
      requestId,
      sourceIpAddress: req.socket.remoteAddress ?? '',
      userAgent: String(req.headers['user-agent'] ?? '').slice(0, 256),
      acsRegion: this.o.core.front.region,
      serviceName: sts ? 'Sts' : 'Kms',
      userIdentity: userIdentityOf(caller, claim.accessKeyId),
      requestParameters: safeParameters(params),
      ...(result && (result.keyId || result.keyVersionId)
        ? {
            responseElements: {
              ...(result.keyId ? { KeyId: result.keyId } : {}),
              ...(result.keyVersionId ? { KeyVersionId: result.keyVersionId } : {}),
            },
          }
        : {}),
      ...(error ? { errorCode: error.code, errorMessage: error.message.split(' server string to sign is:')[0]! } : {}),
      ...(keyId ? { referencedResources: { 'ACS::KMS::Key': [keyId] } } : {}),
      ...(effects.faultIds.length ? { additionalEventData: { kmslabFaults: effects.faultIds } } : {}),
    };
    this.o.core.audit.append(
      {
        time: event.eventTime,
        action: event.eventName,
        ...(error ? { errorCode: error.code } : {}),
        ...(caller ? { principal: principalOf(caller) } : {}),
        ...(keyId ? { keyId } : {}),
      },
      event,
    );
  }
}

/** claimOf reads what a request says about itself, in either signature style, before anything is verified. */
function claimOf(req: IncomingMessage, url: URL, params: Record<string, string>, body: Buffer): Claim {
  const method = req.method ?? 'GET';
  const authorization = String(req.headers.authorization ?? '');
  if (authorization.startsWith('ACS3-')) {
    const h = (name: string) => {
      const v = req.headers[name];
      return Array.isArray(v) ? v.join(',') : v;
    };
    const auth = parseAcs3(authorization);
    return {
      action: h('x-acs-action') ?? '',
      version: h('x-acs-version') ?? '',
      ...(auth ? { accessKeyId: auth.accessKeyId } : {}),
      ...(h('x-acs-security-token') ? { token: h('x-acs-security-token')! } : {}),
      ...(h('x-acs-signature-nonce') ? { nonce: h('x-acs-signature-nonce')! } : {}),
      ...(h('x-acs-date') ? { timestamp: h('x-acs-date')! } : {}),
      check(secret) {
        if (!auth)
          return errors.incompleteSignature(
            'The Authorization header is not ACS3-HMAC-SHA256 Credential=…,SignedHeaders=…,Signature=….',
          );
        if (!auth.signedHeaders.includes('host') || !auth.signedHeaders.includes('x-acs-date'))
          return errors.incompleteSignature('host and x-acs-date must be signed.');
        if ((h('x-acs-content-sha256') ?? '') !== sha256Hex(body))
          return errors.incompleteSignature('x-acs-content-sha256 does not match the request body.');
        const headers: Record<string, string> = {};
        for (const name of auth.signedHeaders) headers[name] = h(name) ?? '';
        const query = Object.fromEntries(url.searchParams);
        const toSign = acs3StringToSign(
          method,
          url.pathname,
          query,
          headers,
          auth.signedHeaders,
          h('x-acs-content-sha256')!,
        );
        return sameText(acs3Signature(toSign, secret), auth.signature)
          ? undefined
          : errors.signatureDoesNotMatch(toSign);
      },
    };
  }
  return {
    action: params.Action ?? '',
    version: params.Version ?? '',
    ...(params.AccessKeyId ? { accessKeyId: params.AccessKeyId } : {}),
    ...(params.SecurityToken ? { token: params.SecurityToken } : {}),
    ...(params.SignatureNonce ? { nonce: params.SignatureNonce } : {}),
    ...(params.Timestamp ? { timestamp: params.Timestamp } : {}),
    check(secret) {
      if (!params.Signature) return errors.incompleteSignature('The Signature parameter is missing.');
      if (params.SignatureMethod !== 'HMAC-SHA1' || params.SignatureVersion !== '1.0')
        return errors.incompleteSignature('Use SignatureMethod HMAC-SHA1 and SignatureVersion 1.0.');
      const toSign = rpcStringToSign(method, params);
      return sameText(rpcSignature(toSign, secret), params.Signature)
        ? undefined
        : errors.signatureDoesNotMatch(toSign);
    },
  };
}

function asAlibabaError(e: unknown): AlibabaError {
  if (e instanceof AlibabaError) return e;
  if (e instanceof CloudError) return fromCloudError(e);
  return new AlibabaError(500, 'InternalFailure', `Internal Failure. (${(e as Error).message})`);
}

const recommend = (code: string) => `https://api.aliyun.com/troubleshoot?q=${encodeURIComponent(code)}&product=Kms`;
const hostOf = (req: IncomingMessage, fallback: string) => String(req.headers.host ?? fallback).slice(0, 256);
