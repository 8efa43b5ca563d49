import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** pct percent-encodes the way Alibaba Cloud signs (RFC 3986: only A–Z a–z 0–9 - _ . ~ stay as they are). */
export function pct(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

const byKey = ([a]: [string, string], [b]: [string, string]) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * rpcStringToSign is what signature version 1.0 signs: the method, the encoded path `/`, and the encoded, sorted
 * parameters (query and form together, the signature itself left out).
 */
export function rpcStringToSign(method: string, params: Record<string, string>): string {
  const canonical = Object.entries(params)
    .filter(([k]) => k !== 'Signature')
    .sort(byKey)
    .map(([k, v]) => `${pct(k)}=${pct(v)}`)
    .join('&');
  return `${method.toUpperCase()}&${pct('/')}&${pct(canonical)}`;
}

/** rpcSignature: base64 of HMAC-SHA1 keyed with the secret and "&". */
export function rpcSignature(stringToSign: string, secret: string): string {
  return createHmac('sha1', `${secret}&`).update(stringToSign).digest('base64');
}

export const ACS3 = 'ACS3-HMAC-SHA256';

/** Acs3Authorization is the parsed `Authorization: ACS3-HMAC-SHA256 Credential=…,SignedHeaders=…,Signature=…`. */
export interface Acs3Authorization {
  accessKeyId: string;
  signedHeaders: string[];
  signature: string;
}

export function parseAcs3(header: string): Acs3Authorization | undefined {
  if (!header.startsWith(`${ACS3} `)) return undefined;
  const fields = Object.fromEntries(
    header
      .slice(ACS3.length + 1)
      .split(',')
      .map((part) => {
        const at = part.indexOf('=');
        return [part.slice(0, at).trim(), part.slice(at + 1).trim()];
      }),
  ) as Record<string, string | undefined>;
  if (!fields.Credential || !fields.SignedHeaders || !fields.Signature) return undefined;
  return {
    accessKeyId: fields.Credential,
    signedHeaders: fields.SignedHeaders.split(';').filter(Boolean),
    signature: fields.Signature,
  };
}

/**
 * acs3StringToSign is what ACS3-HMAC-SHA256 signs: the algorithm and the SHA-256 of the canonical request (method,
 * path, sorted query, the signed headers with their trimmed values, their names, and the payload's SHA-256).
 */
export function acs3StringToSign(
  method: string,
  path: string,
  query: Record<string, string>,
  headers: Record<string, string>,
  signedHeaders: string[],
  payloadSha256: string,
): string {
  const canonicalQuery = Object.entries(query)
    .sort(byKey)
    .map(([k, v]) => `${k}=${v === '' ? '' : pct(v)}`)
    .join('&');
  const names = [...signedHeaders].map((h) => h.toLowerCase()).sort();
  const canonicalHeaders = names.map((h) => `${h}:${(headers[h] ?? '').trim()}\n`).join('');
  const canonicalRequest = [
    method.toUpperCase(),
    path || '/',
    canonicalQuery,
    canonicalHeaders,
    names.join(';'),
    payloadSha256,
  ].join('\n');
  return `${ACS3}\n${sha256Hex(canonicalRequest)}`;
}

export function acs3Signature(stringToSign: string, secret: string): string {
  return createHmac('sha256', secret).update(stringToSign).digest('hex');
}

export const sha256Hex = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/** sameText compares two signatures in constant time. */
export function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
