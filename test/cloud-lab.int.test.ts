import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { alibabaPlugin } from '../cloud/index.js';
import { readLab, type LabRecord } from '../harness/index.js';
import { isRunning } from '../harness/process/process-identity.js';
import { sabotage } from './support/sabotage.js';
import { kmslab as cli } from './support/cli.js';
import { isolateHome, uniqueName } from './support/env.js';
import { expectNegative, type NegativeCase } from './support/negative-cases.js';

const home = isolateHome();

const kmslab = async (args: string[]) => {
  const r = await cli(args);
  return { exitCode: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
};

// Every process whose command line names the lab's dir: what `down` must leave none of (plugin children included).
function processesOf(dir: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (cmd.includes(dir)) found.push(`${pid}: ${cmd.slice(0, 160)}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

const CASES = {
  alibaba: { principal: 'role:AliyunCSManagedSecurityRole', denied: 'Forbidden.NoPermission', caller: 'assumed-role' },
  aws: { principal: 'role:kmslab-kms-plugin', denied: 'AccessDenied', caller: 'AssumedRole' },
} as const;

describe('labs with a cloud KMS behind the plugin (--cloud)', () => {
  test.each(['alibaba', 'aws'] as const)(
    '%s: up, then cloud revoke and cloud audit through the CLI show the role refused; the apiserver is the caller at the socket; down leaves no process',
    async (cloud) => {
      const name = uniqueName(`cl-${cloud}`);
      const want = CASES[cloud];
      const up = await kmslab(['up', '--cloud', cloud, '--name', name]);
      expect(up.exitCode, up.stderr).toBe(0);
      expect(up.stdout).toContain(`the plugin calls as ${want.principal}`);
      const record = (await readLab(name)) as LabRecord;
      try {
        expect(record.kms.cloud).toMatchObject({ name: cloud, principal: want.principal });
        expect(record.processes.map((p) => p.name)).toEqual([
          `cloud-${cloud}`,
          'kms-plugin',
          'kms-proxy',
          'etcd',
          'kube-apiserver',
        ]);

        // The caller at the socket: every call the apiserver made came from the lab's kube-apiserver process.
        const apiserver = record.processes.find((p) => p.name === 'kube-apiserver')!;
        const socketCalls = readFileSync(record.kms.auditFile, 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { method: string; peer?: { pid: number; exe: string; uid: number } });
        expect(socketCalls.some((c) => c.method === 'Encrypt')).toBe(true);
        for (const c of socketCalls)
          expect(c.peer, JSON.stringify(c)).toEqual({
            pid: apiserver.pid,
            uid: process.getuid!(),
            exe: apiserver.command,
          });

        const revoke = await kmslab(['cloud', 'revoke', want.principal, '--name', name]);
        expect(revoke.exitCode, revoke.stderr).toBe(0);
        expect(JSON.parse(revoke.stdout).changed).toBeGreaterThan(0);
        // The proxy asks the plugin for a fresh Status: the plugin calls the cloud as the role, and is refused.
        await kmslab(['kms', 'status', '--name', name]);
        const audit = await kmslab(['cloud', 'audit', '--name', name, '--outcome', 'error']);
        expect(audit.exitCode, audit.stderr).toBe(0);
        const denied = audit.stdout.split('\n').filter((l) => l.includes(want.denied));
        expect(denied.length, audit.stdout).toBeGreaterThan(0);
        for (const row of denied) expect(row).toContain(`${want.caller} ${want.principal}`);
        const json = await kmslab(['cloud', 'audit', '--name', name, '--error-code', want.denied, '--json']);
        expect(JSON.parse(json.stdout).length).toBe(denied.length);

        const regrant = await kmslab([
          'cloud',
          'grant',
          want.principal,
          '--permissions',
          'encrypt,decrypt,describe',
          '--name',
          name,
        ]);
        expect(regrant.exitCode, regrant.stderr).toBe(0);
      } finally {
        const down = await kmslab(['down', '--name', name]);
        expect(down.exitCode, down.stderr).toBe(0);
      }
      expect(record.processes.filter(isRunning)).toEqual([]);
      expect(processesOf(record.dir)).toEqual([]);
    },
    300_000,
  );

  test('a crashed lab: everything killed at once but the record, then down leaves nothing', async () => {
    const name = uniqueName('cl-crash');
    const up = await kmslab(['up', '--cloud', 'alibaba', '--name', name]);
    expect(up.exitCode, up.stderr).toBe(0);
    const record = (await readLab(name))!;
    // The cloud emulator and the plugin die (a node losing power for them); down must still find what is left.
    for (const p of record.processes.filter((q) => q.name === 'cloud-alibaba' || q.name === 'kms-plugin'))
      process.kill(-p.pid, 'SIGKILL');
    const down = await kmslab(['down', '--name', name]);
    expect(down.exitCode, down.stderr).toBe(0);
    expect(processesOf(record.dir)).toEqual([]);
  }, 180_000);

  test('usage: --cloud on another backend, an unknown cloud, a lab without a cloud', async () => {
    const kind = await kmslab(['up', '--cloud', 'aws', '--backend', 'kind', '--name', uniqueName('cl-kind')]);
    expect(kind.exitCode).toBe(2);
    expect(kind.stderr).toContain('--cloud runs on the local backend only');
    const sim = await kmslab(['run', 'cloud-enable', '--cloud', 'alibaba', '--backend', 'sim']);
    expect(sim.exitCode).toBe(2);
    const gcp = await kmslab(['up', '--cloud', 'gcp']);
    expect(gcp.exitCode).toBe(2);
    const none = await kmslab(['cloud', 'audit', '--name', 'no-such-lab']);
    expect(none.stderr).toContain('no lab named "no-such-lab"');
    expect(none.exitCode).not.toBe(0);
  });

  test('without --cloud the cloud scenarios are skipped, with the reason, before a lab starts', async () => {
    const run = await kmslab(['run', 'cloud-enable', 'cloud-grant-revoked', '--json', join(home, 'skip.json')]);
    expect(run.exitCode, run.stderr).toBe(0);
    const report = JSON.parse(readFileSync(join(home, 'skip.json'), 'utf8')) as {
      scenarios: { outcome: string; skipped?: string; durationMs: number }[];
    };
    expect(report.scenarios.map((s) => s.outcome)).toEqual(['skipped', 'skipped']);
    for (const s of report.scenarios) expect(s.skipped).toContain('--cloud alibaba|aws');
  });

  // runs scenarios on labs with a cloud through the CLI; returns the JSON report and what the run printed.
  const runOn = async (cloud: 'alibaba' | 'aws', names: string[]) => {
    const file = join(home, `${cloud}.json`);
    const run = await kmslab(['run', ...names, '--cloud', cloud, '--secrets', '6', '--json', file]);
    const report = JSON.parse(readFileSync(file, 'utf8')) as {
      scenarios: { name: string; outcome: string; steps: { name: string; evidence: Record<string, unknown> }[] }[];
    };
    const evidence = (scenario: string, step: string) =>
      report.scenarios.find((s) => s.name === scenario)?.steps.find((s) => s.name.startsWith(step))?.evidence;
    return { run, outcomes: report.scenarios.map((s) => [s.name, s.outcome]), evidence };
  };

  test('kmslab run enable-new cloud-enable cloud-grant-revoked --cloud alibaba passes', async () => {
    const { run, outcomes, evidence } = await runOn('alibaba', ['enable-new', 'cloud-enable', 'cloud-grant-revoked']);
    expect(outcomes, run.stdout).toEqual([
      ['enable-new', 'passed'],
      ['cloud-enable', 'passed'],
      ['cloud-grant-revoked', 'passed'],
    ]);
    expect(run.exitCode).toBe(0);
    console.log('alibaba counts:', JSON.stringify(evidence('cloud-enable', 'the counts match')));
    console.log('alibaba writes stop:', JSON.stringify(evidence('cloud-grant-revoked', 'Status fails')));
  }, 900_000);

  test('kmslab run cloud-enable cloud-grant-revoked --cloud aws passes', async () => {
    const { run, outcomes, evidence } = await runOn('aws', ['cloud-enable', 'cloud-grant-revoked']);
    expect(outcomes, run.stdout).toEqual([
      ['cloud-enable', 'passed'],
      ['cloud-grant-revoked', 'passed'],
    ]);
    console.log('aws counts:', JSON.stringify(evidence('cloud-enable', 'the counts match')));
  }, 900_000);

  // The user's own plugin (here ours, run as a user would: ACK's static keys from the environment kmslab gives it).
  const ackStyle = async () =>
    `exec ${(await alibabaPlugin()).plugin} serve --socket {socket} --key-id "$KMSLAB_CLOUD_KEY_ID" --verify-key-id`;
  const negatives: Array<() => Promise<NegativeCase>> = [
    async () => ({
      scenario: 'cloud-enable',
      title: "a plugin that calls the cloud as the cluster's RAM user, not as the role",
      options: { cloud: 'alibaba', plugin: { command: await ackStyle() } },
      prepare: (lab) => sabotage(lab, { kms: { cloud: { ...lab.kms.cloud!, principal: CASES.alibaba.principal } } }),
      step: "the cloud audit: Encrypt and Decrypt on the cluster's key, by the cluster's identity only",
      errorClass: 'assertion',
      message: /by user:kmslab-cluster, not by the cluster's identity role:AliyunCSManagedSecurityRole/,
    }),
    async () => ({
      scenario: 'cloud-grant-revoked',
      title: 'a revoke the cloud never sees',
      options: { cloud: 'alibaba' },
      prepare: (lab) => sabotage(lab, { kms: { cloud: { ...lab.kms.cloud!, revoke: async () => ({ changed: 1 }) } } }),
      step: '/healthz/kms-providers fails',
      errorClass: 'timeout',
    }),
  ];
  test.each(
    negatives.map(
      (c, i) =>
        [
          i === 0
            ? 'cloud-enable fails on a plugin calling as the RAM user'
            : 'cloud-grant-revoked fails on a revoke the cloud never sees',
          c,
        ] as const,
    ),
  )('%s', async (_title, make) => expectNegative(await make()), 300_000);
});
