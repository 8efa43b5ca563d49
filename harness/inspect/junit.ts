import junitReport, { type Builder } from 'junit-report-builder';
import { printable } from '../common/printable.js';
import type { GateCase } from './gate.js';

// A CommonJS module typed as an ES module: at run time the default import is the builder itself.
const junit = junitReport as unknown as Builder;

/** What `kmslab inspect --junit` reports: the scan, and each gate case — or why etcd could not be read. */
export interface InspectJUnitInput {
  etcd: string[];
  prefix: string;
  revision?: string | undefined;
  seconds: number;
  total: number;
  cases: GateCase[];
  /** etcd could not be read: one testcase in error, nothing else is known. */
  error?: string;
}

/**
 * inspectJUnit renders an inspect run as JUnit XML: one testsuite, a testcase per --fail-on condition and resource
 * (a failure names the offending keys, escaped, as many as the gate kept), or one testcase in error when etcd could
 * not be read. Everything from etcd is escaped with `printable`: XML 1.0 cannot carry control characters at all.
 */
export function inspectJUnit(run: InspectJUnitInput): string {
  const builder = junit.newBuilder().name('kmslab-inspect');
  const suite = builder
    .testSuite()
    .name(`kmslab inspect ${printable(run.prefix)}`)
    .time(run.seconds)
    .property('etcd', run.etcd.map((u) => printable(u)).join(','))
    .property('prefix', printable(run.prefix));
  if (run.revision) suite.property('revision', run.revision);
  if (run.error !== undefined) {
    suite.testCase().className('kmslab.inspect').name('read etcd').error(printable(run.error), 'etcd');
    return builder.build();
  }
  if (run.cases.length === 0)
    suite
      .testCase()
      .className('kmslab.inspect')
      .name('scan (no --fail-on condition)')
      .standardOutput(`${run.total} keys`);
  for (const c of run.cases) {
    const resource = c.resource ? printable(c.resource) : '(no keys)';
    const tc = suite
      .testCase()
      .className(`kmslab.inspect.${printable(c.condition)}`)
      .name(resource);
    if (c.offending === 0) {
      tc.standardOutput(`${c.values} value(s) checked`);
      continue;
    }
    const listed = c.keys.map(
      (k) =>
        `${printable(Buffer.from(k.keyBase64, 'base64'))}  ${k.class}${k.reason ? ` (${printable(k.reason)})` : ''}`,
    );
    if (c.offending > c.keys.length) listed.push(`… and ${c.offending - c.keys.length} more (--json lists all)`);
    tc.failure(
      `${c.offending} of ${c.values} value(s) under ${resource} match --fail-on ${printable(c.condition)}`,
      printable(c.condition),
    ).stacktrace(listed.join('\n'));
  }
  return builder.build();
}
