import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { labOptionsFor, startLab } from '../harness/index.js';
import { renderConsole, runScenarios, selectScenarios } from '../scenarios/index.js';
import { isolateHome, uniqueName } from './support/env.js';

// The core scenarios on each served kube-apiserver minor, on demand: `KMSLAB_MATRIX=1 npm test` (or
// `KMSLAB_MATRIX=1 npx vitest run --project integration test/version-matrix.int.test.ts`). Each version is built
// from its pinned Go modules on first use (harness/binaries/go/kube-apiserver/pins/<version>); a cold build takes
// ~8–11 min on 2 cores. KMSLAB_MATRIX_VERSIONS=v1.35.4,v1.36.3 picks versions, KMSLAB_MATRIX_SCENARIOS=rotate,…
// scenarios (default: the core tag). Reports go to reports/matrix-*.json.
const VERSIONS = (process.env.KMSLAB_MATRIX_VERSIONS ?? 'v1.34.4,v1.35.4,v1.36.3,v1.37.2').split(',');
const SCENARIOS = process.env.KMSLAB_MATRIX_SCENARIOS?.split(',') ?? [];
const REPORTS = 'reports';

isolateHome();

describe.skipIf(!process.env.KMSLAB_MATRIX).each(VERSIONS)('kube-apiserver %s', (version) => {
  test('what the apiserver says about itself: version, KMS health checks, encryption metrics', async () => {
    await using lab = await startLab({ name: uniqueName('matrix'), k8sVersion: version, removeOnClose: true });
    const api = lab.api;
    await api.ensureNamespace('matrix');
    await api.createSecret({ namespace: 'matrix', name: 'probe' }, { a: 'b' });
    const about = JSON.parse((await api.request('GET', '/version')).body) as { gitVersion: string };
    const readyz = (await api.request('GET', '/readyz?verbose')).body;
    const metrics = (await api.request('GET', '/metrics')).body;
    const names = [
      ...new Set(
        [
          ...metrics.matchAll(
            /^(apiserver_(?:envelope_encryption|encryption_config|storage_transformation)\w*?)(?:_bucket|_sum|_count)?[{ ]/gm,
          ),
        ].map((m) => m[1]!),
      ),
    ].sort();
    const facts = {
      version,
      gitVersion: about.gitVersion,
      kmsChecks: readyz.split('\n').filter((l) => /kms/i.test(l)),
      encryptionMetrics: names,
    };
    mkdirSync(REPORTS, { recursive: true });
    writeFileSync(join(REPORTS, `matrix-facts-${version}.json`), JSON.stringify(facts, null, 2));
    console.log(JSON.stringify(facts, null, 2));
    expect(about.gitVersion).toBe(version);
    expect(facts.kmsChecks.length).toBeGreaterThan(0);
  });

  test('the core scenarios pass', async () => {
    const report = await runScenarios(
      SCENARIOS.length ? selectScenarios(SCENARIOS) : selectScenarios([], ['core']),
      (scenario, signal) =>
        startLab({
          ...(signal ? { signal } : {}),
          name: uniqueName(scenario.name.slice(0, 16)),
          removeOnClose: true,
          k8sVersion: version,
          ...labOptionsFor(scenario.needs),
        }),
      { artifactsDir: join(REPORTS, `matrix-artifacts-${version}`), backend: 'local' },
    );
    mkdirSync(REPORTS, { recursive: true });
    const suffix = SCENARIOS.length ? `-${SCENARIOS.join('+')}` : '';
    writeFileSync(join(REPORTS, `matrix-${version}${suffix}.json`), JSON.stringify(report, null, 2));
    console.log(`kube-apiserver ${version}\n${renderConsole(report)}`);
    expect(report.scenarios.filter((s) => s.outcome === 'failed').map((s) => s.name)).toEqual([]);
  }, 3_600_000);
});
