import { expect, test } from 'vitest';
import { startLab } from '../../harness/index.js';
import { labOptionsFor } from '../../harness/start-lab.js';
import { SCENARIOS } from '../catalog.js';
import { runScenarios } from '../runner.js';
import { runHtml } from './html.js';

test('the run timeline has a band per step, KMS calls under them, and a line per skipped scenario', async () => {
  const report = await runScenarios(
    SCENARIOS.filter((s) => s.tags.includes('core')),
    (s) => startLab({ backend: 'sim', seed: 'html', ...labOptionsFor(s.needs) }),
    { params: { secrets: 4 }, lacks: (c) => (c === 'disable' ? 'needs --disable-cmd' : undefined) },
  );
  const html = runHtml(report);
  const steps = report.scenarios.reduce((n, s) => n + s.steps.length, 0);
  expect(html.match(/class="step (passed|failed)"/g)).toHaveLength(steps);
  expect(html.match(/class="kms"/g)!.length).toBeGreaterThan(5);
  expect(report.scenarios.filter((s) => s.outcome === 'skipped').length).toBeGreaterThan(0);
  expect(html).toContain('skipped: disable: needs --disable-cmd');
  expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
  // Each apiserver's encryption metrics, step by step (the sim models the DEK source cache).
  expect(html.match(/<details class="metrics">/g)!.length).toBe(report.scenarios.filter((s) => s.steps.length).length);
  expect(html).toMatch(/kube-apiserver: [^<]*DEK cache kmslab \d/);
});
