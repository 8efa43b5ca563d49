import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import type { Lab } from '../harness/index.js';
import type { LabCloud } from '../harness/kms/index.js';
import { kmslab } from './support/cli.js';
import { isolateHome } from './support/env.js';
import { expectNegative, type NegativeCase } from './support/negative-cases.js';
import { sabotage } from './support/sabotage.js';

// The cloud key and credential lifecycle scenarios on both clouds, and a negative case for each.
//
// kmslab's Alibaba plugin fetches new STS credentials every 8 minutes, as ACK's does (CREDENTIAL_INTERVAL); in CI
// the lab setting KMSLAB_CREDENTIAL_INTERVAL makes that 15 s, so cloud-credentials-expire recovers within the test's
// budget. `KMSLAB_CLOUD_FAITHFUL=1` runs it with ACK's 8 minutes (about 8 min more).
const FAITHFUL = Boolean(process.env.KMSLAB_CLOUD_FAITHFUL);
if (FAITHFUL) delete process.env.KMSLAB_CREDENTIAL_INTERVAL;
else process.env.KMSLAB_CREDENTIAL_INTERVAL = '15s';

const home = isolateHome();
const NAMES = ['cloud-credentials-expire', 'cloud-key-deletion', 'cloud-key-destroyed'];

interface Report {
  scenarios: {
    name: string;
    outcome: string;
    durationMs: number;
    steps: { name: string; outcome: string; evidence: Record<string, unknown>; error?: { message: string } }[];
  }[];
}

// runOn runs the three scenarios at once, each on its own lab with the cloud's emulator, through the CLI.
async function runOn(cloud: 'alibaba' | 'aws') {
  const file = join(home, `${cloud}.json`);
  const run = await kmslab([
    'run',
    ...NAMES,
    '--cloud',
    cloud,
    '--parallel',
    '3',
    '--secrets',
    '6',
    '--json',
    file,
    '--artifacts',
    join(home, 'artifacts'),
  ]);
  const report = JSON.parse(readFileSync(file, 'utf8')) as Report;
  const evidence = (scenario: string, step: string) =>
    report.scenarios.find((s) => s.name === scenario)?.steps.find((s) => s.name.startsWith(step))?.evidence ?? {};
  return { run, report, evidence };
}

// withCloud is the lab with some of its cloud's operations replaced (the rest as they are).
const withCloud = (lab: Lab, replace: (cloud: LabCloud) => Partial<LabCloud>) =>
  sabotage(lab, { kms: { cloud: { ...lab.kms.cloud!, ...replace(lab.kms.cloud!) } } });

const failures = (r: Report) =>
  r.scenarios.flatMap((s) =>
    s.steps.filter((t) => t.outcome === 'failed').map((t) => `${s.name}: ${t.name}: ${t.error?.message}`),
  );

describe('cloud key and credential lifecycle', () => {
  test.concurrent.each(['alibaba', 'aws'] as const)(
    '%s: credentials expire while refresh fails, then recover; key deletion cancelled; key destroyed',
    async (cloud) => {
      const { run, report, evidence } = await runOn(cloud);
      expect(
        report.scenarios.map((s) => [s.name, s.outcome]),
        `${failures(report).join('\n')}\n${String(run.stdout).slice(-3000)}`,
      ).toEqual(NAMES.map((n) => [n, 'passed']));
      expect(run.exitCode).toBe(0);

      const expired = evidence('cloud-credentials-expire', 'the outage starts');
      expect(String((expired.firstRefused as { errorCode: string }).errorCode)).toBe(
        cloud === 'alibaba' ? 'InvalidSecurityToken.Expired' : 'ExpiredTokenException',
      );
      const refreshed = evidence('cloud-credentials-expire', 'the cloud trail');
      expect((refreshed.refreshed as { action: string }).action).toBe(
        cloud === 'alibaba' ? 'AssumeRole' : 'AssumeRoleWithWebIdentity',
      );
      expect(refreshed.newSession).not.toBe(expired.session);
      // The Status style of each plugin: ACK's fails the RPC; ours for AWS answers healthz "err: …".
      const styles = evidence('cloud-credentials-expire', '/healthz/kms-providers fails').statusAnswers as string[];
      if (cloud === 'alibaba') expect(styles.some((s) => s.startsWith('PERMISSION_DENIED: '))).toBe(true);
      else expect(styles.some((s) => s.startsWith('healthz: err: ') && s.includes('ExpiredToken'))).toBe(true);

      // AWS brings a cancelled key back disabled; Alibaba enabled.
      const cancelled = evidence('cloud-key-deletion', 'cancel the deletion');
      expect(cancelled.state).toBe(cloud === 'alibaba' ? 'Enabled' : 'Disabled');
      if (cloud === 'aws')
        expect((cancelled.refusedAfterCancel as { errorCode: string }).errorCode).toBe('DisabledException');

      const destroyed = evidence('cloud-key-destroyed', 'the window ends');
      expect((destroyed.refused as { errorCode: string }).errorCode).toBe(
        cloud === 'alibaba' ? 'Forbidden.KeyNotFound' : 'NotFoundException',
      );
      for (const s of report.scenarios) console.log(`${cloud} ${s.name}: ${(s.durationMs / 1000).toFixed(1)} s`);
      for (const [scenario, step] of [
        ['cloud-credentials-expire', '/healthz'],
        ['cloud-credentials-expire', 'the outage starts'],
        ['cloud-credentials-expire', 'STS answers again'],
        ['cloud-key-deletion', '/healthz'],
        ['cloud-key-deletion', 'cancel'],
        ['cloud-key-deletion', 'enable the key'],
        ['cloud-key-deletion', '/healthz/kms-providers passes'],
        ['cloud-key-destroyed', 'the window ends'],
        ['cloud-key-destroyed', 'restart'],
      ] as const)
        console.log(`${cloud} ${scenario} | ${step}: ${JSON.stringify(evidence(scenario, step))}`);
    },
    FAITHFUL ? 1_500_000 : 600_000,
  );
});

// After the runs above (not beside them: three more labs at once would crowd two cores).
describe('cloud key and credential lifecycle: each claim made false fails its scenario at the step that checks it', () => {
  const negatives: NegativeCase[] = [
    {
      scenario: 'cloud-credentials-expire',
      title: 'sessions that never really end',
      options: { cloud: 'alibaba' },
      prepare: (lab: Lab) => withCloud(lab, () => ({ expireCredentials: async () => ({ expired: 1 }) })),
      step: '/healthz/kms-providers fails; the plugin says why in its Status style',
      errorClass: 'timeout',
    },
    {
      scenario: 'cloud-key-deletion',
      title: 'a cloud that brings a cancelled key back enabled, while saying disabled',
      options: { cloud: 'aws' },
      prepare: (lab: Lab) =>
        withCloud(lab, (cloud) => ({
          cancelDeletion: async () => {
            const view = await cloud.cancelDeletion();
            await cloud.enable();
            return view;
          },
        })),
      step: /^cancel the deletion: the key comes back Disabled/,
      errorClass: 'timeout',
    },
    {
      scenario: 'cloud-key-destroyed',
      title: 'a deletion window that does not end',
      options: { cloud: 'alibaba' },
      prepare: (lab: Lab) =>
        withCloud(lab, (cloud) => ({ scheduleDeletion: (key?: string) => cloud.scheduleDeletion(key, '7d') })),
      step: 'the window ends: the cloud destroys the key, for good',
      errorClass: 'timeout',
    },
  ];
  test.concurrent.each(negatives.map((c) => [`${c.scenario} fails on ${c.title}`, c] as const))(
    '%s',
    (_title, c) => expectNegative(c),
    300_000,
  );
});
