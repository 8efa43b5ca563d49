import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { readCloudAudit, namesMatch } from './cloud-audit.js';
import { cloudFacts, judgeCloud } from './judge-cloud.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));
const KEY_ARN = 'arn:aws:kms:eu-west-1:111122223333:key/5c8e2f4a-1b2c-4d3e-9f8a-7b6c5d4e3f21';

describe('readCloudAudit', () => {
  test('a CloudTrail log file: KMS calls with every name of the key and the caller; other services counted apart', () => {
    const a = readCloudAudit(fixture('cloudtrail-log-file.json'));
    expect(a.format).toBe('CloudTrail log file (Records)');
    expect(a.otherRecords).toBe(1);
    expect(a.calls.map((c) => [c.cloud, c.action, c.errorCode])).toEqual([
      ['aws', 'Encrypt', undefined],
      ['aws', 'Decrypt', 'AccessDenied'],
    ]);
    expect(a.calls[0]!.keys).toEqual(['alias/eks-secrets', KEY_ARN]);
    expect(a.calls[0]!.identities).toContain('eks-kms-plugin');
    expect(a.calls[0]!.identities).toContain('arn:aws:iam::111122223333:role/eks-kms-plugin');
  });

  test('the same records gzipped (as CloudTrail delivers them to S3), as lookup-events output, and as JSON lines', () => {
    const records = (JSON.parse(fixture('cloudtrail-log-file.json').toString()) as { Records: object[] }).Records;
    const gz = readCloudAudit(gzipSync(fixture('cloudtrail-log-file.json')));
    const lookup = readCloudAudit(
      Buffer.from(
        JSON.stringify({ Events: records.map((r) => ({ EventName: 'x', CloudTrailEvent: JSON.stringify(r) })) }),
      ),
    );
    const lines = readCloudAudit(Buffer.from(records.map((r) => JSON.stringify(r)).join('\n') + '\n'));
    for (const a of [gz, lookup, lines]) expect(a.calls.map((c) => c.action)).toEqual(['Encrypt', 'Decrypt']);
    expect(lookup.format).toBe('LookupEvents answer (Events)');
    expect(lines.format).toBe('JSON lines');
  });

  test('ActionTrail events: a JSON array (OSS delivery), LookupEvents, Log Service rows', () => {
    const events = JSON.parse(fixture('actiontrail-events.json').toString()) as object[];
    const arr = readCloudAudit(fixture('actiontrail-events.json'));
    expect(arr.calls.map((c) => [c.cloud, c.action, c.errorCode])).toEqual([
      ['alibaba', 'Encrypt', undefined],
      ['alibaba', 'Decrypt', 'Forbidden.NoPermission'],
    ]);
    expect(arr.otherRecords).toBe(1);
    expect(arr.calls[0]!.identities).toContain('AliyunCSManagedSecurityRole');
    expect(arr.calls[1]!.keys).toEqual(['key-hzz6f1a2b3c4d5e6f7g8h']);
    const lookup = readCloudAudit(Buffer.from(JSON.stringify({ RequestId: 'r', Events: events })));
    const sls = readCloudAudit(
      Buffer.from(
        JSON.stringify(events.map((e) => ({ __topic__: 'actiontrail_audit_event', event: JSON.stringify(e) }))),
      ),
    );
    expect(lookup.calls).toEqual(arr.calls);
    expect(sls.calls).toEqual(arr.calls);
  });

  test('anything else is refused with what was expected', () => {
    expect(() => readCloudAudit(Buffer.from(''), 'a.json')).toThrow(/a.json is empty/);
    expect(() => readCloudAudit(Buffer.from('{"items": []}'), 'a.json')).toThrow(/not an audit export.*Records/);
    expect(() => readCloudAudit(Buffer.from('{"eventName":"Encrypt"}\nnot json\n'), 'a.jsonl')).toThrow(
      /a.jsonl:2: not JSON/,
    );
  });

  test('names match exactly or as the last part of an ARN', () => {
    expect(namesMatch('5c8e2f4a-1b2c-4d3e-9f8a-7b6c5d4e3f21', [KEY_ARN])).toBe(true);
    expect(namesMatch(KEY_ARN, ['5c8e2f4a-1b2c-4d3e-9f8a-7b6c5d4e3f21'])).toBe(true);
    expect(namesMatch('eks-kms-plugin', ['arn:aws:iam::111122223333:role/eks-kms-plugin'])).toBe(true);
    expect(namesMatch('kms-plugin', ['arn:aws:iam::111122223333:role/eks-kms-plugin'])).toBe(false);
  });
});

// An export of `minutes` minutes: one Encrypt by the plugin each minute, except in the gaps.
function export_(
  minutes: number,
  options: { gapFrom?: number; gapTo?: number; deniedAt?: number[]; identity?: string } = {},
) {
  const events = [];
  for (let m = 0; m <= minutes; m++) {
    const inGap = options.gapFrom !== undefined && m > options.gapFrom && m < options.gapTo!;
    const denied = options.deniedAt?.includes(m);
    if (inGap && !denied) continue;
    events.push({
      eventVersion: '1.11',
      eventTime: new Date(Date.UTC(2026, 2, 2, 10, m, 1)).toISOString(),
      eventSource: 'kms.amazonaws.com',
      eventName: 'Encrypt',
      userIdentity: {
        type: 'IAMUser',
        userName: options.identity ?? 'kms-plugin',
        arn: `arn:aws:iam::111122223333:user/${options.identity ?? 'kms-plugin'}`,
      },
      requestParameters: { keyId: 'alias/k8s' },
      resources: [{ ARN: KEY_ARN }],
      ...(denied ? { errorCode: 'DisabledException' } : {}),
    });
  }
  return readCloudAudit(Buffer.from(JSON.stringify({ Records: events })));
}

describe('judgeCloud', () => {
  const expect_ = { key: '5c8e2f4a-1b2c-4d3e-9f8a-7b6c5d4e3f21', identity: 'kms-plugin' };

  test('a healthy hour: a call a minute meets the fleet model floor; nothing refused', () => {
    const f = cloudFacts(export_(60), expect_);
    expect(f.healthy).toBe(61);
    expect(f.expectedAtLeast).toBeGreaterThanOrEqual(55);
    expect(f.expectedAtLeast).toBeLessThanOrEqual(61);
    expect(judgeCloud(f, 'unhealthy').outcome).toBe('pass');
    expect(judgeCloud(f, 'denied-calls').outcome).toBe('pass');
  });

  test('silence longer than the write key lives fails unhealthy, naming it', () => {
    const d = judgeCloud(cloudFacts(export_(30, { gapFrom: 10, gapTo: 15 }), expect_), 'unhealthy');
    expect(d.outcome).toBe('fail');
    expect(d.reason).toMatch(/no successful call for 5m/);
  });

  test('fewer calls than a fleet of three apiservers makes fails unhealthy', () => {
    const d = judgeCloud(cloudFacts(export_(60), { ...expect_, apiservers: 3 }), 'unhealthy');
    expect(d.outcome).toBe('fail');
    expect(d.reason).toMatch(/61 successful call\(s\) where a healthy fleet makes at least 1[78]\d/);
  });

  test('refusals on the key fail denied-calls with their codes; calls by someone else do not count as the plugin', () => {
    const f = cloudFacts(export_(20, { deniedAt: [3, 4] }), expect_);
    const d = judgeCloud(f, 'denied-calls');
    expect(d.outcome).toBe('fail');
    expect(d.offenders).toEqual(['DisabledException: 2']);
    const other = cloudFacts(export_(20, { identity: 'someone' }), { identity: 'kms-plugin' });
    expect(other.healthy).toBe(0);
    expect(judgeCloud(other, 'unhealthy').outcome).toBe('fail');
  });

  test('the wrong key: no call by the plugin on it', () => {
    const d = judgeCloud(cloudFacts(export_(20), { key: 'another-key', identity: 'kms-plugin' }), 'unhealthy');
    expect(d).toMatchObject({ outcome: 'fail' });
    expect(d.reason).toMatch(/not using it/);
  });
});
