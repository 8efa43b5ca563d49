import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CloudError } from '../core/cloud-error.js';
import type { RequestEffects } from '../core/faults.js';
import { HttpsFront, readBody } from '../core/https-front.js';
import { principalOf, type Caller } from '../core/identities.js';
import { callerArn, iso, readOnlyOf, userIdentityOf, WEB_IDENTITY, type CloudTrailEvent } from './cloudtrail.js';
import { AwsError, errors, fromCloudError, KMS_SKEW_MINUTES, STS_SKEW_MINUTES } from './errors.js';
import type { KeyCrypto } from './key-crypto.js';
import { KMS_ACTIONS, keyArn, trailParameters, type AwsCore, type KmsResult } from './kms-api.js';
import {
  canonicalRequest,
  headerValues,
  parseAuthorization,
  sameSignature,
  scopeOf,
  sha256Hex,
  signature,
  stringToSign,
} from './sigv4.js';
import { STS_ACTIONS, stsAnswer, stsError, trailStsParameters, type StsResult } from './sts-api.js';

export interface AwsServerOptions {
  core: AwsCore;
  crypto: KeyCrypto;
  key: string;
  cert: string;
  randomBytes(n: number): Buffer;
}

type Service = 'kms' | 'sts' | 'credentials';

/** What a request says about itself before anything is checked: enough to name it in the audit trail. */
interface Request {
  service: Service;
  action: string;
  body: Buffer;
  json: Record<string, unknown>;
  params: Record<string, string>;
  claimedKey?: string;
  /** The key the call is about, once known (also for calls refused after that, as CloudTrail records them). */
  keyId?: string;
}

// The STS spellings of the errors authentication and faults give (its query protocol has its own codes).
const STS_CODES: Record<string, [number, string]> = {
  UnrecognizedClientException: [403, 'InvalidClientTokenId'],
  InvalidSignatureException: [403, 'SignatureDoesNotMatch'],
  ExpiredTokenException: [400, 'ExpiredToken'],
  MissingAuthenticationTokenException: [403, 'MissingAuthenticationToken'],
  IncompleteSignatureException: [400, 'IncompleteSignature'],
  ThrottlingException: [400, 'Throttling'],
  KMSInternalException: [500, 'InternalFailure'],
};

/**
 * AwsServer speaks AWS KMS (JSON 1.1, `X-Amz-Target: TrentService.*`), STS (the query protocol) and the container
 * credentials endpoint over HTTPS. Every request but AssumeRoleWithWebIdentity is checked as AWS checks it (SigV4 with
 * the caller's secret, the clock, session tokens and their expiry), authorized per identity and key through the core's
 * grants, subject to the core's faults, and recorded as a CloudTrail-shaped event.
 */
export class AwsServer {
  readonly front: HttpsFront;

  constructor(private readonly o: AwsServerOptions) {
    this.front = new HttpsFront(o.core.faults, o, (req, res) => void this.handle(req, res));
  }

  listenOn(asked: number, last: number | undefined): Promise<number> {
    return this.front.listenOn(asked, last);
  }

  close(): Promise<void> {
    return this.front.close();
  }

  private get core(): AwsCore {
    return this.o.core;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    const started = this.core.now();
    let body: Buffer;
    try {
      body = await readBody(req);
    } catch {
      return void req.socket.destroy();
    }
    const r = this.describe(req, body);
    const effects = this.core.faults.onRequest(r.action || 'unknown');
    let caller: Caller | undefined;
    let result: KmsResult | StsResult | undefined;
    let error: AwsError | undefined;
    // Errors of the STS API itself are in its words already; those of authentication and faults need STS's spelling.
    let inStsApi = false;
    try {
      const refuse = {
        outage: errors.unavailable,
        throttled: errors.throttling,
        injected: (e: { status: number; code?: string; message?: string }) =>
          new AwsError(
            e.status,
            e.code ?? (e.status >= 500 ? 'KMSInternalException' : 'ValidationException'),
            e.message ?? 'Injected by kmslab.',
          ),
      };
      if (await this.front.faulted(effects, req, refuse)) return;
      if (r.service === 'credentials') return this.credentials(req, res, requestId);
      if (r.service === 'kms') {
        caller = this.authenticate(req, r, 'kms');
        result = await this.kms(r, caller);
      } else {
        const spec = STS_ACTIONS[r.action];
        if (!spec)
          throw new AwsError(
            400,
            'InvalidAction',
            `Could not find operation ${r.action.slice(0, 64)} for version 2011-06-15`,
          );
        if (spec.signed) caller = this.authenticate(req, r, 'sts');
        inStsApi = true;
        result = await spec.run({ core: this.core, caller, params: r.params });
      }
    } catch (e) {
      error = asAwsError(e);
      if (r.service === 'sts' && !inStsApi) error = stsSpelling(error);
    }
    if (!res.writable || req.socket.destroyed) return;
    if (r.service === 'credentials') {
      // The endpoint's own error shape, which the SDKs' endpoint credentials providers read; not an API call.
      res.writeHead(error!.status, { 'content-type': 'application/json', 'x-amzn-requestid': requestId });
      return void res.end(JSON.stringify({ code: error!.code, message: error!.message }));
    }
    if (r.service === 'sts') {
      res.writeHead(error?.status ?? 200, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId });
      res.end(error ? stsError(error, requestId) : stsAnswer(r.action, (result as StsResult).xml, requestId));
    } else {
      res.writeHead(error?.status ?? 200, {
        'content-type': 'application/x-amz-json-1.1',
        'x-amzn-requestid': requestId,
      });
      res.end(JSON.stringify(error ? { __type: error.code, message: error.message } : (result as KmsResult).body));
    }
    this.record(req, r, requestId, started, caller, result, error, effects);
  }

  private describe(req: IncomingMessage, body: Buffer): Request {
    const url = new URL(req.url ?? '/', 'https://emulator');
    const auth = parseAuthorization(String(req.headers.authorization ?? ''));
    const claimedKey = 'accessKeyId' in auth ? auth.accessKeyId : undefined;
    const base = { body, json: {}, params: {}, ...(claimedKey ? { claimedKey } : {}) };
    if (req.method === 'GET' && url.pathname === this.core.front.credentialsPath)
      return { ...base, service: 'credentials', action: 'ContainerCredentials' };
    const target = String(req.headers['x-amz-target'] ?? '');
    if (target.startsWith('TrentService.')) {
      let json: Record<string, unknown> = {};
      try {
        const parsed: unknown = JSON.parse(body.toString('utf8') || '{}');
        if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) json = parsed as Record<string, unknown>;
      } catch {
        json = { __unreadable: true };
      }
      return { ...base, service: 'kms', action: target.slice('TrentService.'.length).slice(0, 64), json };
    }
    const params = Object.fromEntries(url.searchParams);
    if (String(req.headers['content-type'] ?? '').includes('application/x-www-form-urlencoded'))
      Object.assign(params, Object.fromEntries(new URLSearchParams(body.toString('utf8'))));
    if (params.Action) return { ...base, service: 'sts', action: params.Action.slice(0, 64), params };
    return { ...base, service: 'kms', action: target.slice(0, 64) };
  }

  /** authenticate checks a SigV4 request as AWS does and names its caller. */
  private authenticate(req: IncomingMessage, r: Request, service: 'kms' | 'sts'): Caller {
    const header = req.headers.authorization;
    if (!header) throw errors.missingAuthentication();
    const auth = parseAuthorization(String(header));
    if ('problem' in auth) throw errors.incompleteSignature(auth.problem);
    if (!auth.signedHeaders.includes('host'))
      throw errors.incompleteSignature("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
    const values = headerValues(req.rawHeaders);
    const sent = values.get('x-amz-date')?.[0];
    if (!sent || !/^\d{8}T\d{6}Z$/.test(sent))
      throw errors.incompleteSignature(
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
      );
    if (auth.service !== service)
      throw new AwsError(
        400,
        'InvalidSignatureException',
        `Credential should be scoped to correct service: '${service}'. `,
      );
    if (auth.region !== this.core.front.region)
      throw new AwsError(
        400,
        'InvalidSignatureException',
        `Credential should be scoped to a valid region. This endpoint serves '${this.core.front.region}'.`,
      );
    if (auth.date !== sent.slice(0, 8))
      throw new AwsError(
        400,
        'InvalidSignatureException',
        `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${auth.date}' != '${sent.slice(0, 8)}', from '${sent}'.`,
      );
    const token = values.get('x-amz-security-token')?.[0];
    let resolved;
    try {
      resolved = this.core.identities.resolve(auth.accessKeyId, token);
    } catch (e) {
      throw asAwsError(e);
    }
    const minutes = service === 'kms' ? KMS_SKEW_MINUTES : STS_SKEW_MINUTES;
    const at = Date.parse(
      `${sent.slice(0, 4)}-${sent.slice(4, 6)}-${sent.slice(6, 11)}:${sent.slice(11, 13)}:${sent.slice(13)}`,
    );
    const now = this.core.now();
    if (at < now - minutes * 60_000) throw errors.signatureExpired(sent, now, minutes);
    if (at > now + minutes * 60_000) throw errors.signatureNotYetCurrent(sent, now, minutes);
    const url = new URL(req.url ?? '/', 'https://emulator');
    const rawQuery = (req.url ?? '').includes('?') ? req.url!.slice(req.url!.indexOf('?') + 1) : '';
    const canonical = canonicalRequest(
      { method: req.method ?? 'POST', path: url.pathname, query: rawQuery, rawHeaders: req.rawHeaders, body: r.body },
      auth.signedHeaders,
      sha256Hex(r.body),
    );
    const expected = signature(resolved.secret, auth, stringToSign(sent, scopeOf(auth), canonical));
    if (!sameSignature(expected, auth.signature)) throw errors.invalidSignature();
    return resolved.caller;
  }

  private async kms(r: Request, caller: Caller): Promise<KmsResult> {
    const spec = KMS_ACTIONS[r.action];
    if (!spec) throw errors.unknownOperation();
    if (r.json.__unreadable) throw errors.serialization('The request body is not JSON.');
    const call = { core: this.core, crypto: this.o.crypto, caller, body: r.json, randomBytes: this.o.randomBytes };
    const key = spec.key(call);
    if (key) r.keyId = key;
    if (!this.core.grants.allows(caller, spec.permission, key))
      throw errors.accessDenied(callerArn(caller), r.action, key ? keyArn(this.core, key) : '*');
    return spec.run(call);
  }

  // credentials serves the container credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI): a fresh session of
  // the cluster's role for a caller that sends the authorization token (AWS_CONTAINER_AUTHORIZATION_TOKEN).
  private async credentials(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
    const core = this.core;
    const answer = (status: number, body: Record<string, unknown>) => {
      res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-requestid': requestId });
      res.end(JSON.stringify(body));
    };
    if (!sameSignature(String(req.headers.authorization ?? ''), core.front.credentialsToken))
      return answer(403, { code: 'AccessDenied', message: 'the authorization token is missing or wrong' });
    const s = await core.mutate(() =>
      core.identities.assumeRole(core.front.clusterUser, core.front.role, 'container-credentials', 3600),
    );
    answer(200, {
      AccessKeyId: s.accessKeyId,
      SecretAccessKey: s.secret,
      Token: s.token,
      Expiration: iso(s.expiresAt),
      RoleArn: `arn:aws:iam::${core.identities.accountId}:role/${core.front.role}`,
    });
  }

  private record(
    req: IncomingMessage,
    r: Request,
    requestId: string,
    started: number,
    caller: Caller | undefined,
    result: KmsResult | StsResult | undefined,
    error: AwsError | undefined,
    effects: RequestEffects,
  ): void {
    const core = this.core;
    const accountId = core.identities.accountId;
    const kmsResult = r.service === 'kms' ? (result as KmsResult | undefined) : undefined;
    const keyId = kmsResult?.keyId ?? r.keyId;
    const subject = (result as StsResult | undefined)?.subject;
    const oidcArn = `arn:aws:iam::${accountId}:oidc-provider/${core.front.oidc.issuer.replace(/^https:\/\//, '')}`;
    const userIdentity =
      subject !== undefined
        ? {
            type: 'WebIdentityUser' as const,
            principalId: `${oidcArn}:${core.front.oidc.audience}:${subject}`,
            userName: subject,
            identityProvider: oidcArn,
          }
        : userIdentityOf(caller, r.claimedKey, oidcArn);
    const event: CloudTrailEvent = {
      eventVersion: '1.11',
      userIdentity,
      eventTime: iso(started),
      eventSource: r.service === 'sts' ? 'sts.amazonaws.com' : 'kms.amazonaws.com',
      eventName: r.action,
      awsRegion: core.front.region,
      sourceIPAddress: req.socket.remoteAddress ?? '',
      userAgent: String(req.headers['user-agent'] ?? '').slice(0, 256),
      ...(error ? { errorCode: error.trailCode, errorMessage: error.message } : {}),
      requestParameters: r.service === 'sts' ? trailStsParameters(r.params) : trailParameters(r.action, r.json),
      responseElements: error ? null : ((result as KmsResult | StsResult | undefined)?.responseElements ?? null),
      ...(effects.faultIds.length ? { additionalEventData: { kmslabFaults: effects.faultIds } } : {}),
      requestID: requestId,
      eventID: randomUUID(),
      readOnly: readOnlyOf(r.action),
      ...(keyId ? { resources: [{ accountId, type: 'AWS::KMS::Key' as const, ARN: keyArn(core, keyId) }] } : {}),
      eventType: 'AwsApiCall',
      managementEvent: true,
      recipientAccountId: accountId,
      eventCategory: 'Management',
    };
    core.audit.append(
      {
        time: event.eventTime,
        action: event.eventName,
        ...(error ? { errorCode: error.trailCode } : {}),
        ...(caller ? { principal: principalOf(caller) } : subject ? { principal: `${WEB_IDENTITY}${subject}` } : {}),
        ...(keyId ? { keyId } : {}),
      },
      event,
    );
  }
}

function asAwsError(e: unknown): AwsError {
  if (e instanceof AwsError) return e;
  if (e instanceof CloudError) return fromCloudError(e, e.detail.arn ?? '');
  return errors.internal(`The request was rejected because an internal exception occurred. (${(e as Error).message})`);
}

function stsSpelling(e: AwsError): AwsError {
  const mapped = STS_CODES[e.code];
  return mapped ? new AwsError(mapped[0], mapped[1], e.message, e.trailCode) : e;
}
