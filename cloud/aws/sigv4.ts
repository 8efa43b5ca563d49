import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * AWS Signature Version 4 (AWS4-HMAC-SHA256), as the SDKs sign and the services check: a canonical request (method,
 * path, sorted query, signed headers, payload hash), a string to sign over its hash and the credential scope, and an
 * HMAC chain from the secret through date, region and service. Checked against AWS's published test suite
 * (sigv4.test.ts); the AWS SDK for Go v2 signs against it in test/cloud-aws.int.test.ts.
 */

/** What a request to be signed or checked consists of. `rawHeaders` are Node's (name, value, name, value, …). */
export interface SignedRequest {
  method: string;
  /** The path as sent (percent-encoded), without the query. */
  path: string;
  /** The query string as sent, without '?'. */
  query: string;
  rawHeaders: string[];
  body: Buffer;
}

/** AuthorizationHeader is what `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…` says. */
export interface AuthorizationHeader {
  accessKeyId: string;
  /** YYYYMMDD */
  date: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

export const ALGORITHM = 'AWS4-HMAC-SHA256';

/** parseAuthorization reads the header, or says what is missing from it (the services' IncompleteSignature text). */
export function parseAuthorization(value: string): AuthorizationHeader | { problem: string } {
  if (!value.startsWith(`${ALGORITHM} `))
    return { problem: `Authorization header must use the ${ALGORITHM} algorithm (Signature Version 4).` };
  const fields = new Map<string, string>();
  for (const part of value.slice(ALGORITHM.length + 1).split(',')) {
    const at = part.indexOf('=');
    if (at > 0) fields.set(part.slice(0, at).trim(), part.slice(at + 1).trim());
  }
  const missing = ['Credential', 'SignedHeaders', 'Signature'].filter((f) => !fields.get(f));
  if (missing.length)
    return {
      problem:
        missing.map((f) => `Authorization header requires '${f}' parameter.`).join(' ') +
        ` Authorization=${value.split(' ')[0]}`,
    };
  const scope = fields.get('Credential')!.split('/');
  if (scope.length !== 5 || scope[4] !== 'aws4_request' || !/^\d{8}$/.test(scope[1]!))
    return {
      problem: `Credential should be scoped to a valid region, and be of the form <access key>/<YYYYMMDD>/<region>/<service>/aws4_request.`,
    };
  return {
    accessKeyId: scope[0]!,
    date: scope[1]!,
    region: scope[2]!,
    service: scope[3]!,
    signedHeaders: fields.get('SignedHeaders')!.split(';'),
    signature: fields.get('Signature')!,
  };
}

/** rfc3986 encodes as SigV4 asks: everything but A–Z a–z 0–9 - _ . ~ (and '/' when kept). */
function rfc3986(text: string, keepSlash = false): string {
  const encoded = encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return keepSlash ? encoded.replace(/%2F/g, '/') : encoded;
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return text;
  }
}

// Services other than S3 encode the (already encoded) path once more: '%' itself becomes '%25'.
function canonicalPath(path: string): string {
  return rfc3986(path === '' ? '/' : path, true);
}

function canonicalQuery(query: string): string {
  if (query === '') return '';
  return query
    .split('&')
    .filter((p) => p !== '')
    .map((p) => {
      const at = p.indexOf('=');
      const [k, v] = at < 0 ? [p, ''] : [p.slice(0, at), p.slice(at + 1)];
      return [rfc3986(decode(k)), rfc3986(decode(v))] as const;
    })
    .sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

/** headerValues collects every value of each header, in order, by lower-case name. */
export function headerValues(rawHeaders: string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    const list = out.get(name) ?? [];
    list.push(rawHeaders[i + 1]!);
    out.set(name, list);
  }
  return out;
}

export const sha256Hex = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/** canonicalRequest builds the text whose hash is signed, from the headers the signer named. */
export function canonicalRequest(req: SignedRequest, signedHeaders: string[], payloadHash: string): string {
  const values = headerValues(req.rawHeaders);
  const headers = signedHeaders
    .map((name) => `${name}:${(values.get(name) ?? []).map((v) => v.trim().replace(/\s+/g, ' ')).join(',')}\n`)
    .join('');
  return [
    req.method,
    canonicalPath(req.path),
    canonicalQuery(req.query),
    headers,
    signedHeaders.join(';'),
    payloadHash,
  ].join('\n');
}

export function stringToSign(amzDate: string, scope: string, canonical: string): string {
  return [ALGORITHM, amzDate, scope, sha256Hex(canonical)].join('\n');
}

const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();

/** signature is the hex HMAC of the string to sign under the key derived from the secret and the scope. */
export function signature(secret: string, scope: { date: string; region: string; service: string }, toSign: string) {
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, scope.date), scope.region), scope.service), 'aws4_request');
  return createHmac('sha256', key).update(toSign).digest('hex');
}

export const scopeOf = (a: { date: string; region: string; service: string }) =>
  `${a.date}/${a.region}/${a.service}/aws4_request`;

/** sameSignature compares two hex signatures in constant time. */
export function sameSignature(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * signRequest signs a request as an SDK would (for tests and kmslab's own clients): it adds `x-amz-date`, the
 * session token when given, and `Authorization`, signing every header it is given.
 */
export function signRequest(
  req: { method: string; path: string; query?: string; headers: Record<string, string>; body: Buffer },
  creds: { accessKeyId: string; secret: string; token?: string },
  scope: { region: string; service: string },
  now = new Date(),
): Record<string, string> {
  const amzDate = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  const headers: Record<string, string> = { ...req.headers, 'x-amz-date': amzDate };
  if (creds.token) headers['x-amz-security-token'] = creds.token;
  const signed = Object.keys(headers)
    .map((h) => h.toLowerCase())
    .sort();
  const rawHeaders = Object.entries(headers).flat();
  const full = { date: amzDate.slice(0, 8), ...scope };
  const canonical = canonicalRequest(
    { method: req.method, path: req.path, query: req.query ?? '', rawHeaders, body: req.body },
    signed,
    sha256Hex(req.body),
  );
  const sig = signature(creds.secret, full, stringToSign(amzDate, scopeOf(full), canonical));
  return {
    ...headers,
    authorization: `${ALGORITHM} Credential=${creds.accessKeyId}/${scopeOf(full)}, SignedHeaders=${signed.join(';')}, Signature=${sig}`,
  };
}
