import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  acs3Signature,
  acs3StringToSign,
  parseAcs3,
  pct,
  rpcSignature,
  rpcStringToSign,
  sha256Hex,
} from './signature.js';

describe('Alibaba Cloud request signatures', () => {
  it('signature version 1.0 gives the value of the documented example (DescribeRegions, secret testsecret)', () => {
    const params = {
      Format: 'XML',
      AccessKeyId: 'testid',
      Action: 'DescribeRegions',
      SignatureMethod: 'HMAC-SHA1',
      SignatureNonce: '3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf',
      SignatureVersion: '1.0',
      Timestamp: '2016-02-23T12:46:24Z',
      Version: '2014-05-26',
    };
    expect(rpcSignature(rpcStringToSign('GET', params), 'testsecret')).toBe('OLeaidS1JvxuMvnyHOwuJ+uX5qY=');
    // The signature itself is never part of what is signed.
    expect(rpcStringToSign('GET', { ...params, Signature: 'x' })).toBe(rpcStringToSign('GET', params));
  });

  it('percent-encodes as RFC 3986: only A-Z a-z 0-9 - _ . ~ stay', () => {
    expect(pct("a b*c~d!'()+/=")).toBe('a%20b%2Ac~d%21%27%28%29%2B%2F%3D');
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (s) => {
        const out = pct(s);
        expect(out).toMatch(/^([A-Za-z0-9\-_.~]|%[0-9A-F]{2})*$/);
        expect(decodeURIComponent(out)).toBe(s);
      }),
    );
  });

  it('any change of a parameter, the method or the secret changes the v1 signature', () => {
    const params = fc.dictionary(fc.stringMatching(/^[A-Za-z][A-Za-z0-9.]{0,12}$/), fc.string({ maxLength: 20 }), {
      minKeys: 1,
    });
    fc.assert(
      fc.property(params, fc.string({ minLength: 1 }), fc.string({ maxLength: 5 }), (p, secret, extra) => {
        const sig = rpcSignature(rpcStringToSign('POST', p), secret);
        const [k, v] = Object.entries(p)[0]!;
        expect(rpcSignature(rpcStringToSign('POST', { ...p, [k]: v + extra + 'x' }), secret)).not.toBe(sig);
        expect(rpcSignature(rpcStringToSign('GET', p), secret)).not.toBe(sig);
        expect(rpcSignature(rpcStringToSign('POST', p), secret + 'x')).not.toBe(sig);
      }),
    );
  });

  it('ACS3-HMAC-SHA256: parses the Authorization header and signs method, query, signed headers and payload', () => {
    const auth = parseAcs3('ACS3-HMAC-SHA256 Credential=LTAIx,SignedHeaders=host;x-acs-date,Signature=abc');
    expect(auth).toEqual({ accessKeyId: 'LTAIx', signedHeaders: ['host', 'x-acs-date'], signature: 'abc' });
    expect(parseAcs3('HMAC-SHA1 foo')).toBeUndefined();
    const headers = { host: '127.0.0.1:1', 'x-acs-date': '2026-01-01T00:00:00Z', 'x-acs-action': 'Encrypt' };
    const signed = ['host', 'x-acs-date', 'x-acs-action'];
    const base = acs3StringToSign('POST', '/', { KeyId: 'k', Plaintext: 'a b' }, headers, signed, sha256Hex(''));
    expect(base.startsWith('ACS3-HMAC-SHA256\n')).toBe(true);
    const variants = [
      acs3StringToSign('GET', '/', { KeyId: 'k', Plaintext: 'a b' }, headers, signed, sha256Hex('')),
      acs3StringToSign('POST', '/', { KeyId: 'k', Plaintext: 'a  b' }, headers, signed, sha256Hex('')),
      acs3StringToSign(
        'POST',
        '/',
        { KeyId: 'k', Plaintext: 'a b' },
        { ...headers, 'x-acs-action': 'Decrypt' },
        signed,
        sha256Hex(''),
      ),
      acs3StringToSign('POST', '/', { KeyId: 'k', Plaintext: 'a b' }, headers, signed, sha256Hex('x')),
    ];
    for (const v of variants) expect(acs3Signature(v, 's')).not.toBe(acs3Signature(base, 's'));
    // An unsigned header does not count.
    expect(
      acs3StringToSign(
        'POST',
        '/',
        { KeyId: 'k', Plaintext: 'a b' },
        { ...headers, other: 'x' },
        signed,
        sha256Hex(''),
      ),
    ).toBe(base);
  });
});
