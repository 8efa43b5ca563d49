import { readFileSync } from 'node:fs';
import AjvDraft04 from 'ajv-draft-04';
import ajvFormats from 'ajv-formats';
import { describe, expect, test } from 'vitest';
import { parseConditions } from './conditions.js';
import { verifyJUnit, verifySarif } from './reports.js';
import { verify, type VerifyReport } from './verify.js';
import type { ClusterApi } from './cluster-api.js';

// The SARIF 2.1.0 JSON schema as Microsoft's @microsoft/jest-sarif package ships it (sarif-2.1.0-rtm.5, MIT), vendored.
const schema = JSON.parse(
  readFileSync(new URL('./fixtures/sarif-2.1.0-rtm.5.schema.json', import.meta.url), 'utf8'),
) as object;
// CommonJS modules: their default export is the module object, whose `default` is the class (or function).
const ajv = new AjvDraft04.default({ allErrors: true, strict: false, unicodeRegExp: false });
ajvFormats.default(ajv);
const validate = ajv.compile(schema);

const hostile = 'evil\x1b[2J\u202e\nname';
const api: ClusterApi = {
  async request(_m, path) {
    if (path === '/metrics')
      return {
        status: 200,
        body: [
          `apiserver_storage_transformation_operations_total{resource="secrets",status="OK",transformation_type="from_storage",transformer_prefix="identity"} 2`,
          `apiserver_storage_transformation_operations_total{resource="secrets",status="OK",transformation_type="to_storage",transformer_prefix="k8s:enc:kms:v2:${hostile.replace('\n', '\\n')}:"} 1`,
        ].join('\n'),
      };
    if (path === '/healthz/kms-providers') return { status: 500, body: `internal server error: ${hostile}` };
    return { status: 200, body: '[+]ping ok\n[-]kms-providers failed: reason withheld\n' };
  },
};

async function report(): Promise<VerifyReport> {
  return verify({
    api,
    conditions: parseConditions(['plaintext', 'unhealthy', 'stale-seeds>1', 'invalid', 'provider!=kmslab']),
  });
}

describe('reports', () => {
  test('SARIF validates against the 2.1.0 schema: a result per condition (fail, pass, open), rules with CIS items', async () => {
    const r = await report();
    const sarif = JSON.parse(verifySarif(r, { target: 'https://127.0.0.1:6443', version: '0.1.0' })) as {
      runs: Array<{
        results: Array<{ ruleId: string; kind: string; level: string; message: { text: string } }>;
        tool: { driver: { rules: Array<{ id: string; properties: { cis: string[] } }> } };
      }>;
    };
    expect(validate(sarif), JSON.stringify(validate.errors, null, 1)).toBe(true);
    const results = sarif.runs[0]!.results;
    expect(results.map((x) => [x.ruleId, x.kind, x.level])).toEqual([
      ['kmslab.verify.plaintext', 'fail', 'error'],
      ['kmslab.verify.unhealthy', 'fail', 'error'],
      ['kmslab.verify.stale-seeds', 'open', 'warning'],
      ['kmslab.verify.invalid', 'open', 'warning'],
      ['kmslab.verify.provider-not', 'fail', 'error'],
    ]);
    expect(sarif.runs[0]!.tool.driver.rules.find((x) => x.id === 'kmslab.verify.plaintext')!.properties.cis).toEqual([
      '1.2.27',
      '1.2.28',
    ]);
    const text = JSON.stringify(sarif);
    expect(text).not.toMatch(/[\x1b\u202e]/);
    expect(text).not.toContain('\\u001b');
    expect(text).toContain('\\\\x1b[2J\\\\u202e');
  });

  test('an invalid SARIF is caught by the same validator (the test can fail)', async () => {
    const sarif = JSON.parse(verifySarif(await report(), { target: 't', version: '0' })) as {
      runs: Array<{ results: Array<Record<string, unknown>> }>;
    };
    sarif.runs[0]!.results[0]!.kind = 'broken';
    expect(validate(sarif)).toBe(false);
  });

  test('--config problems become results at their line of the file', async () => {
    const r = {
      ...(await report()),
      configProblems: [{ line: 7, level: 'warning' as const, message: 'identity comes before the kms provider' }],
    };
    const sarif = JSON.parse(verifySarif(r, { target: 't', version: '0', configFile: 'enc.yaml' }));
    expect(validate(sarif)).toBe(true);
    expect(sarif.runs[0].results.at(-1)).toMatchObject({
      ruleId: 'kmslab.verify.config-lint',
      locations: [{ physicalLocation: { artifactLocation: { uri: 'enc.yaml' }, region: { startLine: 7 } } }],
    });
  });

  test('JUnit: failure per failed condition, error per undecided one, nothing unescaped from the cluster', async () => {
    const xml = verifyJUnit(await report(), { target: 'https://127.0.0.1:6443' });
    expect(xml).toMatch(/<testcase classname="kmslab.verify.plaintext" name="plaintext"[^>]*>\s*<failure/);
    expect(xml).toMatch(/<testcase classname="kmslab.verify.invalid" name="invalid"[^>]*>\s*<error[^>]*not decided/);
    expect(xml).not.toMatch(/[\x00-\x08\x0b\x0c\x0e-\x1f\u202e]/);
    expect(xml).toContain('\\x1b[2J\\u202e');
  });
});
