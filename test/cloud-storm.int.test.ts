import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import type { ActiveCloudFault } from '../cloud/core/faults.js';
import { kmslab as cli } from './support/cli.js';
import { isolateHome } from './support/env.js';
import { expectNegative, type NegativeCase } from './support/negative-cases.js';
import { sabotage } from './support/sabotage.js';

const home = isolateHome();

// Two apiservers restarted at once against a cloud KMS whose quota fits one start per second
// (scenarios/cloud-throttled-restart.ts), on each cloud, and two labs where its claim is false.
describe('cloud-throttled-restart: a restart storm against a throttled cloud KMS', () => {
  test.each(['alibaba', 'aws'] as const)(
    '%s: throttled, every apiserver serves every Secret within the bound, the storm settles',
    async (cloud) => {
      const file = join(home, `storm-${cloud}.json`);
      const run = await cli(['run', 'cloud-throttled-restart', '--cloud', cloud, '--secrets', '6', '--json', file]);
      const report = JSON.parse(readFileSync(file, 'utf8')) as {
        scenarios: {
          outcome: string;
          durationMs: number;
          steps: { name: string; outcome: string; evidence: Record<string, unknown> }[];
        }[];
      };
      const s = report.scenarios[0]!;
      expect(s.outcome, String(run.stdout)).toBe('passed');
      const evidence = (prefix: string) => s.steps.find((x) => x.name.startsWith(prefix))!.evidence;
      const throttled = evidence('the cloud throttled the storm');
      // What the apiservers were refused at the socket, in the plugin's words (RESOURCE_EXHAUSTED, or AWS-style
      // healthz "err" with the throttling error).
      expect(JSON.stringify(throttled.socket)).toMatch(/RESOURCE_EXHAUSTED|healthz err Throttl/);
      expect((throttled.throttledWith as string[]).join()).toMatch(
        cloud === 'alibaba' ? /Rejected\.Throttling/ : /ThrottlingException/,
      );
      for (const step of ['limit the cloud', 'restart all', 'every apiserver writes', 'the storm settles'])
        console.log(`${cloud} ${step}:`, JSON.stringify({ ...evidence(step), metrics: undefined }));
      console.log(`${cloud} throttled:`, JSON.stringify({ ...throttled, metrics: undefined }));
      console.log(`${cloud} scenario: ${(s.durationMs / 1000).toFixed(1)} s`);
    },
    400_000,
  );

  const negatives: NegativeCase[] = [
    {
      scenario: 'cloud-throttled-restart',
      title: 'a quota the cloud never gets (no throttling at all)',
      options: { cloud: 'alibaba' },
      prepare: (lab) =>
        sabotage(lab, {
          kms: {
            cloud: {
              ...lab.kms.cloud!,
              addFault: async (spec) => ({ ...spec, id: 'never-added', fired: 0 }) as ActiveCloudFault,
            },
          },
        }),
      step: /^the cloud throttled the storm/,
      errorClass: 'assertion',
      message: /the cloud throttled nothing during the restart/,
    },
    {
      scenario: 'cloud-throttled-restart',
      title: 'a cloud that throttles every call: no apiserver comes back within the bound',
      options: { cloud: 'alibaba' },
      prepare: (lab) => {
        const real = lab.kms.cloud!;
        return sabotage(lab, {
          kms: { cloud: { ...real, addFault: (spec) => real.addFault({ kind: 'throttle', action: spec.action }) } },
        });
      },
      step: /^every apiserver writes, and reads every Secret/,
      errorClass: 'timeout',
    },
  ];
  // The two negatives run side by side: the second waits out a minute's /livez hold and the 30 s bound.
  describe.concurrent('negatives', () => {
    test.each(negatives.map((c) => [c.title, c] as const))('fails on %s', (_title, c) => expectNegative(c), 300_000);
  });
});
