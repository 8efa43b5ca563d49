import { execa } from 'execa';
import { describe, expect, test } from 'vitest';
import { findBinary, labOptionsFor, startLab } from '../harness/index.js';
import { runScenarios, selectScenarios } from '../scenarios/index.js';
import { isolateHome, uniqueName } from './support/env.js';

isolateHome();

// End to end on kind and on docker compose: these need a container engine. Where none answers (kmslab's own CI,
// which has no Docker), they are skipped and say so; nothing here pretends a cluster ran.
// Until every image these backends need is built on the machine, running them would make the engine try to pull:
// they run only when asked for.
const asked = process.env.KMSLAB_DOCKER_E2E === '1';
const engine =
  asked && (await execa('docker', ['info'], { reject: false }).catch(() => ({ exitCode: 1 }))).exitCode === 0;
const why = engine ? '' : ' [skipped: set KMSLAB_DOCKER_E2E=1 with a container engine and locally built images]';

describe.skipIf(!engine)(`the core scenarios on the kind backend${why}`, () => {
  test('pass', async () => {
    process.env.KMSLAB_KIND ??= (await findBinary('kind')).path;
    const report = await runScenarios(selectScenarios([], ['core']), (s) =>
      startLab({ backend: 'kind', name: uniqueName(s.name.slice(0, 10)), ...labOptionsFor(s.needs) }),
    );
    for (const s of report.scenarios) expect(s.outcome, `${s.name}: ${s.error}`).toBe('passed');
  }, 3_600_000);
});

describe.skipIf(!engine)(`the core scenarios on the compose backend${why}`, () => {
  test('pass', async () => {
    const report = await runScenarios(selectScenarios([], ['core']), (s) =>
      startLab({ backend: 'compose', name: uniqueName(s.name.slice(0, 10)), ...labOptionsFor(s.needs) }),
    );
    for (const s of report.scenarios) expect(s.outcome, `${s.name}: ${s.error}`).toBe('passed');
  }, 3_600_000);
});
