import { gunzipSync } from 'node:zlib';
import { KmslabError } from '../harness/common/errors.js';

/** KmsCall is one cloud KMS call from an audit export, whatever the cloud: who called what on which key, and the answer. */
export interface KmsCall {
  cloud: 'alibaba' | 'aws';
  /** ms since the epoch. */
  time: number;
  action: string;
  /** Every name the event gives the key: the key id as the caller gave it, ARNs of the resources. */
  keys: string[];
  /** Every name the event gives the caller: user name, ARN, principal id, the role behind a session. */
  identities: string[];
  errorCode?: string;
}

/** CloudAudit is an export read: its KMS calls, and how many records were something else. */
export interface CloudAudit {
  format: string;
  calls: KmsCall[];
  /** Records that are not KMS calls (other services, STS), or that carry no time. */
  otherRecords: number;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

/**
 * readCloudAudit reads a cloud audit export: CloudTrail's S3 log files ({"Records": […]}, gzipped or not) and
 * `aws cloudtrail lookup-events` output ({"Events": [{"CloudTrailEvent": "…"}]}); ActionTrail's OSS deliveries (a
 * JSON array of events), its LookupEvents answer ({"Events": […]}) and Log Service rows ({"event": …}); or JSON
 * lines of either cloud's events (what `kmslab cloud serve` writes). Anything else is refused, naming what was found.
 */
export function readCloudAudit(bytes: Buffer, file = 'the audit export'): CloudAudit {
  const text = (bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes).toString('utf8').trim();
  if (text === '') throw new KmslabError('usage', `${file} is empty: expected a CloudTrail or ActionTrail export`);
  let records: unknown[];
  let format: string;
  const whole = parse(text);
  if (whole.ok) {
    const v = whole.value;
    if (Array.isArray(v)) [records, format] = [v, 'JSON array of events'];
    else if (isObject(v) && Array.isArray(v.Records)) [records, format] = [v.Records, 'CloudTrail log file (Records)'];
    else if (isObject(v) && Array.isArray(v.Events)) [records, format] = [v.Events, 'LookupEvents answer (Events)'];
    else if (isObject(v) && (v.eventName || v.event)) [records, format] = [[v], 'one event'];
    else
      throw new KmslabError(
        'usage',
        `${file} is JSON but not an audit export: expected {"Records": […]} (CloudTrail), {"Events": […]} (LookupEvents), an array of events, or JSON lines`,
      );
  } else {
    records = [];
    format = 'JSON lines';
    text.split('\n').forEach((line, i) => {
      if (line.trim() === '') return;
      const p = parse(line);
      // Only where: the parser's own message quotes the line, and the wrong file may hold a secret.
      if (!p.ok)
        throw new KmslabError('usage', `${file}:${i + 1}: not JSON; expected one event per line, or one JSON document`);
      records.push(p.value);
    });
  }
  const calls: KmsCall[] = [];
  let otherRecords = 0;
  for (const r of records) {
    const call = kmsCall(unwrap(r));
    if (call) calls.push(call);
    else otherRecords++;
  }
  calls.sort((a, b) => a.time - b.time);
  return { format, calls, otherRecords };
}

function parse(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

// A record may wrap the event: lookup-events puts it in a CloudTrailEvent string, Log Service in an `event` field.
function unwrap(r: unknown): Json | undefined {
  if (!isObject(r)) return undefined;
  for (const field of ['CloudTrailEvent', 'event']) {
    const inner = r[field];
    if (typeof inner === 'string') {
      const p = parse(inner);
      if (p.ok && isObject(p.value)) return p.value;
    } else if (isObject(inner)) return inner;
  }
  return r;
}

function kmsCall(e: Json | undefined): KmsCall | undefined {
  if (!e) return undefined;
  const action = str(e.eventName);
  const time = Date.parse(str(e.eventTime) ?? '');
  if (!action || Number.isNaN(time)) return undefined;
  const source = str(e.eventSource) ?? '';
  const errorCode = str(e.errorCode);
  const code = errorCode ? { errorCode } : {};
  if (source === 'kms.amazonaws.com')
    return { cloud: 'aws', time, action, keys: awsKeys(e), identities: awsIdentities(e), ...code };
  if (str(e.serviceName)?.toLowerCase() === 'kms' || /^kms[.-].*aliyuncs\.com$/.test(source))
    return { cloud: 'alibaba', time, action, keys: alibabaKeys(e), identities: alibabaIdentities(e), ...code };
  return undefined;
}

function awsKeys(e: Json): string[] {
  const keys: string[] = [];
  const params = isObject(e.requestParameters) ? e.requestParameters : {};
  for (const k of ['keyId', 'destinationKeyId', 'sourceKeyId']) if (str(params[k])) keys.push(str(params[k])!);
  if (Array.isArray(e.resources)) for (const r of e.resources) if (isObject(r) && str(r.ARN)) keys.push(str(r.ARN)!);
  return [...new Set(keys)];
}

function awsIdentities(e: Json): string[] {
  const u = isObject(e.userIdentity) ? e.userIdentity : {};
  const names = [u.userName, u.arn, u.principalId];
  const issuer =
    isObject(u.sessionContext) && isObject(u.sessionContext.sessionIssuer) ? u.sessionContext.sessionIssuer : {};
  names.push(issuer.userName, issuer.arn);
  return [...new Set(names.map(str).filter((n): n is string => !!n))];
}

function alibabaKeys(e: Json): string[] {
  const keys: string[] = [];
  const params = isObject(e.requestParameters) ? e.requestParameters : {};
  if (str(params.KeyId)) keys.push(str(params.KeyId)!);
  const refs = isObject(e.referencedResources) ? e.referencedResources : {};
  for (const list of Object.values(refs)) if (Array.isArray(list)) for (const k of list) if (str(k)) keys.push(str(k)!);
  return [...new Set(keys)];
}

function alibabaIdentities(e: Json): string[] {
  const u = isObject(e.userIdentity) ? e.userIdentity : {};
  const names = [str(u.userName), str(u.principalId), str(u.arn)].filter((n): n is string => !!n);
  // An assumed role is `role:session`: the role alone names it too.
  for (const n of [...names]) if (n.includes(':') && str(u.type) === 'assumed-role') names.push(n.split(':')[0]!);
  return [...new Set(names)];
}

/** namesMatch: an expected name matches one the event gives exactly, or as the last part of an ARN (`…/name`). */
export function namesMatch(expected: string, names: string[]): boolean {
  return names.some((n) => n === expected || n.endsWith(`/${expected}`) || expected.endsWith(`/${n}`));
}
