import { describe, expect, it } from 'vitest';
import {
  canonicalRequest,
  parseAuthorization,
  scopeOf,
  sha256Hex,
  signature,
  signRequest,
  stringToSign,
} from './sigv4.js';

// AWS's published Signature Version 4 test suite (aws-sig-v4-test-suite): its example credentials and three of its
// requests, with the signatures the suite gives for them.
const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
const SCOPE = { date: '20150830', region: 'us-east-1', service: 'service' };
const HEADERS = ['Host', 'example.amazonaws.com', 'X-Amz-Date', '20150830T123600Z'];

const suite = (method: string, query: string) => {
  const canonical = canonicalRequest(
    { method, path: '/', query, rawHeaders: HEADERS, body: Buffer.alloc(0) },
    ['host', 'x-amz-date'],
    sha256Hex(''),
  );
  return signature(SECRET, SCOPE, stringToSign('20150830T123600Z', scopeOf(SCOPE), canonical));
};

describe('SigV4', () => {
  it("reproduces the test suite's signatures (get-vanilla, get-vanilla-query-order-key-case, post-vanilla)", () => {
    expect(suite('GET', '')).toBe('5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31');
    expect(suite('GET', 'Param2=value2&Param1=value1')).toBe(
      'b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500',
    );
    expect(suite('POST', '')).toBe('5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b');
  });

  it('signRequest writes the Authorization header the suite expects, and parseAuthorization reads it back', () => {
    const headers = signRequest(
      { method: 'GET', path: '/', headers: { host: 'example.amazonaws.com' }, body: Buffer.alloc(0) },
      { accessKeyId: 'AKIDEXAMPLE', secret: SECRET },
      { region: 'us-east-1', service: 'service' },
      new Date('2015-08-30T12:36:00Z'),
    );
    expect(headers.authorization).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
    );
    expect(parseAuthorization(headers.authorization!)).toEqual({
      accessKeyId: 'AKIDEXAMPLE',
      ...SCOPE,
      signedHeaders: ['host', 'x-amz-date'],
      signature: '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
    });
  });

  it('says what a malformed Authorization header lacks', () => {
    expect(parseAuthorization('AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/kms/aws4_request')).toEqual({
      problem: expect.stringContaining("requires 'SignedHeaders' parameter"),
    });
    expect(parseAuthorization('AWS AKID:sig')).toEqual({ problem: expect.stringContaining('Signature Version 4') });
    expect(
      parseAuthorization('AWS4-HMAC-SHA256 Credential=A/2015/us-east-1/kms, SignedHeaders=host, Signature=ab'),
    ).toEqual({ problem: expect.stringContaining('Credential should be scoped') });
  });
});
