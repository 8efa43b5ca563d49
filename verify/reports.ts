import junitReport, { type Builder } from 'junit-report-builder';
import { printable } from '../harness/common/printable.js';
import { CIS_NOTE } from './rules.js';
import type { ConditionResult, VerifyReport } from './verify.js';

const junit = junitReport as unknown as Builder;

export interface ReportTarget {
  /** What was verified: the API server URL and context, or the etcd endpoints. */
  target: string;
}

/**
 * verifyJUnit: one testsuite, a testcase per --fail-on condition (failure: it failed; error: no source could
 * decide it, or a source asked for could not be read), the evidence behind each in its output. Escaped throughout.
 */
export function verifyJUnit(r: VerifyReport, t: ReportTarget): string {
  const builder = junit.newBuilder().name('kmslab-verify');
  const suite = builder
    .testSuite()
    .name(`kmslab verify ${printable(t.target)}`)
    .time(r.seconds);
  for (const s of r.sources) suite.property(`source.${s.source}`, `${s.state}: ${printable(s.detail)}`);
  for (const s of r.sources.filter((x) => x.state === 'unreadable'))
    suite.testCase().className('kmslab.verify.source').name(s.source).error(printable(s.detail), 'unreadable');
  for (const res of r.results) {
    const tc = suite.testCase().className(res.rule.id).name(printable(res.condition));
    const body = evidenceText(res);
    if (res.outcome === 'pass') tc.standardOutput(body);
    else if (res.outcome === 'fail')
      tc.failure(`${printable(res.condition)}: ${summary(res)}`, res.rule.id).stacktrace(body);
    else tc.error(`${printable(res.condition)}: not decided — ${summary(res)}`, 'undecided', body);
  }
  return builder.build();
}

function summary(res: ConditionResult): string {
  const d = res.decisions.find((x) => x.source === res.decidedBy) ?? res.decisions[0];
  return d ? d.reason : 'no evidence';
}

function evidenceText(res: ConditionResult): string {
  return res.decisions
    .map((d) => `[${d.source}] ${d.outcome}: ${d.reason}${d.offenders ? `\n  ${d.offenders.join('\n  ')}` : ''}`)
    .join('\n');
}

const LEVEL = { error: 'error', warning: 'warning' } as const;

/**
 * verifySarif renders SARIF 2.1.0: one run of the tool `kmslab verify`, a reporting rule per condition kind
 * (stable id, CIS cross-references in its properties), a result per condition — kind `fail`, `pass`, or `open`
 * when undecided — and a `warning` result per --config problem, located at its line of the config file.
 */
export function verifySarif(r: VerifyReport, t: ReportTarget & { version: string; configFile?: string }): string {
  const rules = [...new Map(r.results.map((x) => [x.rule.id, x.rule])).values()];
  const ruleIndex = new Map(rules.map((x, i) => [x.id, i]));
  const location = { physicalLocation: { artifactLocation: { uri: 'cluster', uriBaseId: 'CLUSTER' } } };
  const results: unknown[] = r.results.map((res) => ({
    ruleId: res.rule.id,
    ruleIndex: ruleIndex.get(res.rule.id),
    kind: res.outcome === 'undecided' ? 'open' : res.outcome,
    level: res.outcome === 'fail' ? LEVEL[res.rule.severity] : res.outcome === 'pass' ? 'none' : 'warning',
    message: {
      text: `${printable(res.condition)}: ${res.outcome === 'undecided' ? 'not decided' : res.outcome} — ${summary(res)}`,
    },
    locations: [location],
    properties: {
      condition: printable(res.condition),
      decidedBy: res.decidedBy ?? null,
      evidence: res.decisions.map((d) => ({
        source: d.source,
        outcome: d.outcome,
        reason: d.reason,
        offenders: d.offenders ?? [],
      })),
      cis: res.rule.cis,
    },
  }));
  if (t.configFile)
    for (const p of r.configProblems)
      results.push({
        ruleId: 'kmslab.verify.config-lint',
        kind: 'fail',
        level: p.level === 'error' ? 'error' : 'warning',
        message: { text: printable(p.message) },
        locations: [{ physicalLocation: { artifactLocation: { uri: t.configFile }, region: { startLine: p.line } } }],
      });
  const sarif = {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'kmslab verify',
            version: t.version,
            informationUri: 'https://kubernetes.io/docs/tasks/administer-cluster/kms-provider/',
            rules: [
              ...rules.map((x) => ({
                id: x.id,
                shortDescription: { text: x.title },
                fullDescription: {
                  text: `${x.title}. ${x.cis.length ? CIS_NOTE : 'No CIS Kubernetes Benchmark item covers this.'}`,
                },
                defaultConfiguration: { level: x.severity },
                properties: { cis: x.cis, tags: ['security', 'encryption-at-rest', ...x.cis.map((c) => `CIS-${c}`)] },
              })),
              ...(t.configFile && r.configProblems.length
                ? [
                    {
                      id: 'kmslab.verify.config-lint',
                      shortDescription: { text: 'EncryptionConfiguration problem' },
                      defaultConfiguration: { level: 'warning' },
                    },
                  ]
                : []),
            ],
          },
        },
        originalUriBaseIds: { CLUSTER: { description: { text: printable(t.target) } } },
        invocations: [{ executionSuccessful: r.exitCode !== 3, exitCode: r.exitCode }],
        results,
        properties: {
          sources: r.sources.map((s) => ({ source: s.source, state: s.state, detail: s.detail })),
        },
      },
    ],
  };
  return JSON.stringify(sarif, null, 2);
}
