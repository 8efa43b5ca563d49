import { createHmac, timingSafeEqual } from 'node:crypto';
import { AwsError } from './errors.js';

/** The emulated OIDC provider: who issues web identity tokens, for which subject and audience, and its signing key. */
export interface OidcProvider {
  issuer: string;
  /** HMAC-SHA256 key, base64 (the emulator is both the provider and STS, so a shared key stands in for its JWKS). */
  key: string;
  subject: string;
  audience: string;
}

const b64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');
const sign = (key: string, data: string) => createHmac('sha256', Buffer.from(key, 'base64')).update(data).digest();

/**
 * issueWebIdentityToken makes a token like the projected ServiceAccount token EKS gives a pod for IRSA: a JWT naming
 * the issuer, the subject (system:serviceaccount:NAMESPACE:NAME) and the audience sts.amazonaws.com.
 */
export function issueWebIdentityToken(p: OidcProvider, nowMs: number, ttlSeconds = 3600): string {
  const now = Math.floor(nowMs / 1000);
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT', kid: 'kmslab' }));
  const body = b64url(
    JSON.stringify({ iss: p.issuer, sub: p.subject, aud: p.audience, iat: now, nbf: now, exp: now + ttlSeconds }),
  );
  return `${head}.${body}.${b64url(sign(p.key, `${head}.${body}`))}`;
}

const invalid = () =>
  new AwsError(
    400,
    'InvalidIdentityToken',
    'The web identity token that was passed could not be validated by AWS. Get a new identity token from the identity provider and then retry the request.',
  );

/** verifyWebIdentityToken checks a token as STS does for AssumeRoleWithWebIdentity, and returns its subject. */
export function verifyWebIdentityToken(p: OidcProvider, token: string, nowMs: number): string {
  const parts = token.split('.');
  if (parts.length !== 3) throw invalid();
  const [head, body, sig] = parts as [string, string, string];
  const expected = sign(p.key, `${head}.${body}`);
  const given = Buffer.from(sig, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw invalid();
  let claims: { iss?: unknown; sub?: unknown; aud?: unknown; exp?: unknown };
  try {
    claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as typeof claims;
  } catch {
    throw invalid();
  }
  if (claims.iss !== p.issuer || typeof claims.sub !== 'string') throw invalid();
  if (claims.aud !== p.audience && !(Array.isArray(claims.aud) && claims.aud.includes(p.audience)))
    throw new AwsError(400, 'InvalidIdentityToken', 'Incorrect token audience');
  if (typeof claims.exp !== 'number' || claims.exp * 1000 <= nowMs)
    throw new AwsError(
      400,
      'ExpiredTokenException',
      `Token expired: current date/time ${Math.floor(nowMs / 1000)} must be before the expiration date/time ${String(claims.exp)}`,
    );
  return claims.sub;
}
