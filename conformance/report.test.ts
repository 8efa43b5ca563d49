import { expect, test } from 'vitest';
import type { CheckResult } from './check-runner.js';
import { checkLine, conformanceJUnit, renderConformance } from './report.js';
import { conformanceVerdict } from './report-verdict.js';
import type { ConformanceReport } from './run-conformance.js';

const result = (over: Partial<CheckResult>): CheckResult => ({
  id: 'roundtrip-seed',
  title: 'a 32-byte DEK seed comes back',
  phase: 'protocol',
  level: 'required',
  source: 'docs',
  outcome: 'passed',
  durationMs: 3,
  ...over,
});

const report = (checks: CheckResult[], over: Partial<ConformanceReport> = {}): ConformanceReport => ({
  startedAt: '2026-01-01T00:00:00.000Z',
  durationMs: 175_000,
  plugin: { command: 'p', hooks: [] },
  strict: false,
  requireAll: false,
  outcome: 'passed',
  counts: {
    required: { passed: 1, failed: 0, skipped: 4, 'not-run': 0 },
    recommended: { passed: 0, failed: 0, skipped: 0, 'not-run': 0 },
  },
  notChecked: [],
  artifacts: '/tmp/a/conformance-x',
  checks,
  ...over,
});

// A Go plugin's multi-line error, with a terminal escape in it.
const messy = 'Decrypt failed: INTERNAL rpc error:\n\tgoroutine 7 [running]:\r\n\x1b[31mpanic\x1b[0m \u202eevil';

test('a multi-line plugin error stays on its one line, control and bidi characters escaped', () => {
  const c = result({ outcome: 'failed', message: messy });
  const line = checkLine(c, false);
  expect(line.split('\n')).toHaveLength(1);
  expect(line).toBe(
    '✗ roundtrip-seed: Decrypt failed: INTERNAL rpc error:\\n\\tgoroutine 7 [running]:\\r\\n\\x1b[31mpanic\\x1b[0m \\u202eevil',
  );
  const text = renderConformance(report([c]));
  expect(text).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f\u202e]/);
  expect(text.split('\n').filter((l) => l.includes('goroutine'))).toHaveLength(1);
});

test("the end of a dead plugin's log is shown line by line, escaped, under the check", () => {
  const c = result({
    outcome: 'failed',
    message: 'the plugin died during this check (exit code 2)',
    died: { how: 'exit code 2', logFile: '/tmp/a/kms-plugin.log', lastLines: ['panic: boom\x07', '', 'goroutine 1'] },
  });
  const lines = renderConformance(report([c])).split('\n');
  expect(lines).toContain("    the end of the plugin's log (/tmp/a/kms-plugin.log):");
  expect(lines).toContain('      | panic: boom\\x07');
  expect(lines).toContain('      | goroutine 1');
});

test('required checks not run: a pass that says it is not a full one, or a failure with --require-all', () => {
  const skipped = [1, 2].map((i) => result({ id: `x${i}`, outcome: 'skipped', message: 'needs --rotate-cmd' }));
  const notChecked = skipped.map((s) => ({ id: s.id, why: s.message! }));
  const text = renderConformance(report(skipped, { notChecked }));
  expect(text).toContain(
    'PASS in 175 s — not fully checked: 2 required checks not run (needs --rotate-cmd); --require-all makes that a failure',
  );
  expect(text).toContain('logs: /tmp/a/conformance-x');
  expect(renderConformance(report(skipped, { notChecked, requireAll: true, outcome: 'failed' }))).toContain(
    'FAIL in 175 s — not fully checked: 2 required checks not run (needs --rotate-cmd), and --require-all is set',
  );
  expect(renderConformance(report([result({})]))).toMatch(/PASS in 175 s\nlogs:/);
});

test('JUnit: control bytes from the plugin cannot break the XML; not-run checks are skips', () => {
  const xml = conformanceJUnit(
    report([
      result({ outcome: 'failed', message: messy }),
      result({ id: 'latency', outcome: 'not-run', because: 'roundtrip-seed', message: 'not run: it builds on x' }),
    ]),
  );
  expect(xml).not.toContain('\x1b');
  expect(xml).toMatch(/<failure message="Decrypt failed: INTERNAL rpc error:\\n\\tgoroutine 7/);
  expect(xml).toMatch(/name="latency \[required\]"[^]*?<skipped\/>/);
});

test('backend checks skipped without a cloud leave a run fully checked (--require-all passes); a missing hook does not', () => {
  const noCloud = result({ id: 'backend-outage', phase: 'backend', outcome: 'skipped', message: 'needs --cloud' });
  const o = { strict: false, requireAll: true, cutShort: false };
  expect(conformanceVerdict([result({}), noCloud], o)).toMatchObject({ outcome: 'passed', notChecked: [] });
  const noHook = result({
    id: 'disable-refuses',
    phase: 'lifecycle',
    outcome: 'skipped',
    message: 'needs --disable-cmd',
  });
  expect(conformanceVerdict([result({}), noCloud, noHook], o)).toMatchObject({
    outcome: 'failed',
    notChecked: [{ id: 'disable-refuses', why: 'needs --disable-cmd' }],
  });
  const notRun = result({ id: 'backend-throttled', phase: 'backend', outcome: 'not-run', because: 'roundtrip-seed' });
  expect(conformanceVerdict([notRun], o).notChecked).toEqual([{ id: 'backend-throttled', why: '' }]);
});
