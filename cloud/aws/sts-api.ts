import { CloudError } from '../core/cloud-error.js';
import type { Caller, SessionRecord } from '../core/identities.js';
import { callerArn, iso, roleArn, sessionArn, WEB_IDENTITY } from './cloudtrail.js';
import { AwsError } from './errors.js';
import type { AwsCore } from './kms-api.js';
import { verifyWebIdentityToken } from './web-identity.js';

export const STS_VERSION = '2011-06-15';
const NS = `https://sts.amazonaws.com/doc/${STS_VERSION}/`;

export interface StsCall {
  core: AwsCore;
  /** The signer; undefined for AssumeRoleWithWebIdentity, which is not signed. */
  caller: Caller | undefined;
  params: Record<string, string>;
}

/** StsResult is the XML of the result element, and what CloudTrail records of the call. */
export interface StsResult {
  xml: string;
  responseElements: Record<string, unknown> | null;
  /** The web identity's subject, for the audit event of an unsigned call. */
  subject?: string;
}

export const xmlEscape = (s: string) =>
  s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
const el = (name: string, inner: string) => `<${name}>${inner}</${name}>`;
const text = (name: string, value: string) => el(name, xmlEscape(value));

/** stsAnswer wraps a result as the query protocol does: <ActionResponse><ActionResult>…</ActionResult>…. */
export function stsAnswer(action: string, resultXml: string, requestId: string): string {
  return `<${action}Response xmlns="${NS}">${el(`${action}Result`, resultXml)}${el('ResponseMetadata', text('RequestId', requestId))}</${action}Response>`;
}

/** stsError is the query protocol's error document. */
export function stsError(e: AwsError, requestId: string): string {
  const type = e.status >= 500 ? 'Receiver' : 'Sender';
  return `<ErrorResponse xmlns="${NS}">${el('Error', text('Type', type) + text('Code', e.code) + text('Message', e.message))}${text('RequestId', requestId)}</ErrorResponse>`;
}

const validation = (message: string) => new AwsError(400, 'ValidationError', message);
const denied = (message: string) => new AwsError(403, 'AccessDenied', message);

function required(call: StsCall, name: string): string {
  const v = call.params[name];
  if (v === undefined || v === '')
    throw new AwsError(400, 'MissingParameter', `The request must contain the parameter ${name}`);
  return v;
}

// roleOf reads a role ARN of this account; STS answers AccessDenied for a role it will not name, existing or not.
function roleOf(call: StsCall, who: string, action: string): string {
  const arn = required(call, 'RoleArn');
  const m = /^arn:aws:iam::(\d{12}):role\/(?:[\w+=,.@-]+\/)*([\w+=,.@-]{1,64})$/.exec(arn);
  if (!m || m[1] !== call.core.identities.accountId || !call.core.identities.roles().some((r) => r.name === m[2]))
    throw denied(`User: ${who} is not authorized to perform: sts:${action} on resource: ${arn}`);
  return m[2]!;
}

function sessionParams(call: StsCall): { sessionName: string; duration: number } {
  const sessionName = required(call, 'RoleSessionName');
  if (!/^[\w+=,.@-]{2,64}$/.test(sessionName))
    throw validation(
      `1 validation error detected: Value '${sessionName.slice(0, 64)}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*`,
    );
  const duration = Number(call.params.DurationSeconds ?? 3600);
  if (!Number.isInteger(duration) || duration < 900 || duration > 43_200)
    throw validation(
      `1 validation error detected: Value '${String(call.params.DurationSeconds)}' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200`,
    );
  return { sessionName, duration };
}

async function issue(
  call: StsCall,
  issuedTo: string,
  role: string,
  sessionName: string,
  duration: number,
  who: string,
  action: string,
) {
  const maxSeconds = call.core.identities.role(role).maxSessionSeconds;
  if (duration > maxSeconds)
    throw validation('The requested DurationSeconds exceeds the MaxSessionDuration set for this role.');
  try {
    return await call.core.mutate(() => call.core.identities.assumeRole(issuedTo, role, sessionName, duration));
  } catch (error) {
    if (error instanceof CloudError && (error.kind === 'NotTrusted' || error.kind === 'RoleNotFound'))
      throw denied(
        `User: ${who} is not authorized to perform: sts:${action} on resource: ${roleArn(call.core.identities.accountId, role)}`,
      );
    throw error;
  }
}

function credentialsXml(call: StsCall, s: SessionRecord): { xml: string; responseElements: Record<string, unknown> } {
  const accountId = call.core.identities.accountId;
  const roleId = call.core.identities.role(s.role).roleId;
  const arn = sessionArn(accountId, s.role, s.sessionName);
  const xml =
    el(
      'Credentials',
      text('AccessKeyId', s.accessKeyId) +
        text('SecretAccessKey', s.secret) +
        text('SessionToken', s.token) +
        text('Expiration', iso(s.expiresAt)),
    ) + el('AssumedRoleUser', text('Arn', arn) + text('AssumedRoleId', `${roleId}:${s.sessionName}`));
  // CloudTrail keeps the temporary key id and its expiry, never the secret or the token.
  return {
    xml,
    responseElements: {
      credentials: { accessKeyId: s.accessKeyId, expiration: iso(s.expiresAt) },
      assumedRoleUser: { assumedRoleId: `${roleId}:${s.sessionName}`, arn },
    },
  };
}

/** STS_ACTIONS: AssumeRole, AssumeRoleWithWebIdentity (how EKS plugins get credentials) and GetCallerIdentity. */
export const STS_ACTIONS: Record<string, { signed: boolean; run(call: StsCall): Promise<StsResult> }> = {
  AssumeRole: {
    signed: true,
    async run(call) {
      const who = callerArn(call.caller!);
      const role = roleOf(call, who, 'AssumeRole');
      const { sessionName, duration } = sessionParams(call);
      if (call.caller!.kind !== 'user')
        throw denied(`User: ${who} is not authorized to perform: sts:AssumeRole on resource: ${call.params.RoleArn}`);
      const s = await issue(call, call.caller!.user, role, sessionName, duration, who, 'AssumeRole');
      return credentialsXml(call, s);
    },
  },
  AssumeRoleWithWebIdentity: {
    signed: false,
    async run(call) {
      const oidc = call.core.front.oidc;
      const subject = verifyWebIdentityToken(oidc, required(call, 'WebIdentityToken'), call.core.now());
      const who = `${WEB_IDENTITY}${subject}`;
      const role = roleOf(call, subject, 'AssumeRoleWithWebIdentity');
      const { sessionName, duration } = sessionParams(call);
      const s = await issue(call, who, role, sessionName, duration, subject, 'AssumeRoleWithWebIdentity').catch((e) => {
        throw e instanceof AwsError && e.code === 'AccessDenied'
          ? denied('Not authorized to perform sts:AssumeRoleWithWebIdentity')
          : e;
      });
      const { xml, responseElements } = credentialsXml(call, s);
      return {
        xml:
          text('SubjectFromWebIdentityToken', subject) +
          text('Audience', oidc.audience) +
          xml +
          text('Provider', oidc.issuer.replace(/^https:\/\//, '')),
        responseElements: { ...responseElements, subjectFromWebIdentityToken: subject, audience: oidc.audience },
        subject,
      };
    },
  },
  GetCallerIdentity: {
    signed: true,
    async run(call) {
      const c = call.caller!;
      const userId = c.kind === 'user' ? c.userId : `${c.roleId}:${c.sessionName}`;
      return {
        xml: text('Arn', callerArn(c)) + text('UserId', userId) + text('Account', c.accountId),
        responseElements: null,
      };
    },
  },
};

/** trailStsParameters: the STS request fields CloudTrail records (never the web identity token itself). */
export function trailStsParameters(params: Record<string, string>): Record<string, unknown> | null {
  const out: Record<string, unknown> = {};
  if (params.RoleArn) out.roleArn = params.RoleArn.slice(0, 256);
  if (params.RoleSessionName) out.roleSessionName = params.RoleSessionName.slice(0, 64);
  if (params.DurationSeconds) out.durationSeconds = Number(params.DurationSeconds);
  return Object.keys(out).length ? out : null;
}
