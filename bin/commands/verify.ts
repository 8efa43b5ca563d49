import { Command, Option } from '@commander-js/extra-typings';
import { KmslabError } from '../../harness/common/errors.js';
import { printable } from '../../harness/common/printable.js';
import { table, writeReport, say } from '../output.js';
import { positiveInt } from './lab.js';
import { target, timeoutFlag } from './inspect.js';

/** Exit codes of `kmslab verify`, as `kmslab inspect`'s: 3 is "could not tell", never a pass. */
export const VERIFY_EXIT = { passed: 0, gateFailed: 1, usage: 2, undecided: 3 } as const;

const DEFAULT_FAIL_ON = ['not-prefix=k8s:enc:kms:v2:', 'unhealthy'];
// The most an audit export may hold: a day of CloudTrail for a busy account is a few hundred MiB; cut it first.
const MAX_AUDIT_BYTES = 256 * 1024 * 1024;

const EXIT_HELP = `
Evidence, strongest first: --etcd (every value stored now), --canary (what a write does now), the apiserver's
/metrics (what it read and wrote since it started), /healthz/kms-providers (now), --cloud-audit (the export's span).
A condition no source given can decide is "not decided" (exit 3), never a pass. docs/verify.md has the RBAC.

Exit codes:
  0  every --fail-on condition was decided and passed
  1  a condition failed (named, with its evidence)
  2  usage: a bad flag or file
  3  not decided: the cluster could not be read, a source asked for could not be read, or no source could decide a condition`;

export function verifyCommand(program: Command): void {
  program
    .command('verify')
    .description(
      "prove encryption at rest on a live cluster, with or without etcd: the apiserver's metrics and KMS health, a canary Secret, the cloud's audit export, raw etcd; SARIF, JUnit, JSON",
    )
    .addOption(new Option('--kubeconfig <file>', 'the cluster to verify (env KUBECONFIG)').env('KUBECONFIG'))
    .option('--context <name>', 'kubeconfig context (default: its current one)')
    .option(
      '--resource <resource>',
      'the resources value conditions are about, as the apiserver names them (repeatable; default secrets)',
      (v: string, prev: string[] | undefined) => [...(prev ?? []), v],
    )
    .option(
      '--fail-on <condition>',
      `repeatable: plaintext, unknown, invalid, key-id=ID, not-key-id=ID, not-prefix=PREFIX, kms-v1, aescbc, aesgcm, secretbox, provider!=NAME, coverage:RESOURCE<PERCENT, stale-seeds>N, unhealthy, denied-calls, config, or none (default: ${DEFAULT_FAIL_ON.join(', ')})`,
      (v: string, prev: string[] | undefined) => [...(prev ?? []), v],
    )
    .option(
      '--canary',
      'write a Secret in a namespace of its own, see which transformer stored it, read it back, delete both',
    )
    .option(
      '--cloud-audit <file>',
      "the cloud's audit export: CloudTrail log files or lookup-events output, ActionTrail events (JSON, JSON lines, gzip)",
    )
    .option('--expect-key <key>', 'the KMS key the plugin should use (id, ARN or alias as the export names it)')
    .option('--expect-identity <name>', 'the identity the plugin calls as (user or role name, or ARN)')
    .option('--apiservers <n>', 'kube-apiservers behind the plugin, for the expected call rate', positiveInt, 1)
    .option('--calls-per-status <n>', 'cloud calls the plugin makes per Status (ack-kms-plugin: 2)', positiveInt, 1)
    .option('--etcd <urls>', 'also read raw etcd (comma-separated client URLs; the strongest evidence)')
    .option('--cacert <file>', 'CA bundle of an https etcd (env ETCDCTL_CACERT)')
    .option('--cert <file>', 'client certificate for etcd (env ETCDCTL_CERT)')
    .option('--key <file>', 'client key for etcd (env ETCDCTL_KEY)')
    .option(
      '--config <file>',
      'the EncryptionConfiguration the cluster should run: --fail-on config names resources it encrypts that are stored otherwise',
    )
    .addOption(
      new Option('--timeout <duration>', 'deadline of each call to the cluster or etcd')
        .default(30_000, '30s')
        .argParser(timeoutFlag('--timeout', 3_600_000)),
    )
    .option('--json <file>', 'write the whole report as JSON')
    .option('--junit <file>', 'write JUnit XML: a testcase per condition')
    .option('--sarif <file>', 'write SARIF 2.1.0: a result per condition, rules with CIS cross-references')
    .addHelpText('after', EXIT_HELP)
    .action(async (o) => {
      const { parseConditions } = await import('../../verify/conditions.js');
      const conditions = parseConditions(o.failOn ?? DEFAULT_FAIL_ON);
      // --config is there to be compared with: it adds the condition that does so.
      if (o.config && !conditions.some((c) => c.kind === 'config')) conditions.push({ kind: 'config' });
      const kubeconfig = o.kubeconfig?.split(':')[0] || undefined;
      if (!kubeconfig && !o.etcd && !o.cloudAudit)
        throw new KmslabError(
          'usage',
          'verify needs something to look at: --kubeconfig FILE (or $KUBECONFIG), --etcd URLS, or --cloud-audit FILE',
        );
      if ((o.expectKey || o.expectIdentity) && !o.cloudAudit)
        throw new KmslabError('usage', '--expect-key and --expect-identity judge a --cloud-audit FILE: give one');
      const config = o.config ? await readConfig(o.config) : undefined;
      const cloudAudit = o.cloudAudit
        ? {
            audit: await readAudit(o.cloudAudit),
            expect: {
              ...(o.expectKey ? { key: o.expectKey } : {}),
              ...(o.expectIdentity ? { identity: o.expectIdentity } : {}),
              apiservers: o.apiservers,
              callsPerStatus: o.callsPerStatus,
            },
          }
        : undefined;
      const etcd = o.etcd ? await target({ name: '', etcd: o.etcd, ...pick(o, ['cacert', 'cert', 'key']) }) : undefined;
      const { kubeconfigApi } = await import('../../verify/kubeconfig-api.js');
      const api = kubeconfig ? await kubeconfigApi(kubeconfig, o.context, o.timeout) : undefined;
      const where = api
        ? `${api.server} (context ${api.context})`
        : etcd
          ? `etcd ${etcd.urls.join(',')}`
          : `cloud audit export ${o.cloudAudit}`;
      const { verify } = await import('../../verify/verify.js');
      const { ClusterUnreadable } = await import('../../verify/cluster-api.js');
      let report: Awaited<ReturnType<typeof verify>>;
      try {
        report = await verify({
          ...(api ? { api } : {}),
          conditions,
          ...(o.resource ? { resources: o.resource } : {}),
          ...(o.canary ? { canary: true } : {}),
          ...(cloudAudit ? { cloudAudit } : {}),
          ...(etcd ? { etcd: { etcd: etcd.urls, ...(etcd.tls ? { tls: etcd.tls } : {}), timeoutMs: o.timeout } } : {}),
          ...(config ? { config } : {}),
        });
      } catch (error) {
        if (!(error instanceof ClusterUnreadable)) throw error;
        process.stderr.write(
          `kmslab: could not read the cluster at ${printable(where)}: ${printable(error.message, 500)}\n`,
        );
        process.exitCode = VERIFY_EXIT.undecided;
        return;
      }
      if (o.json) await writeReport(o.json, JSON.stringify({ target: printable(where), ...report }, null, 2) + '\n');
      // Loaded only when asked for: the JUnit builder alone costs ~0.1 s of start-up.
      const reports = o.junit || o.sarif ? await import('../../verify/reports.js') : undefined;
      if (o.junit) await writeReport(o.junit, reports!.verifyJUnit(report, { target: where }));
      if (o.sarif)
        await writeReport(
          o.sarif,
          reports!.verifySarif(report, {
            target: where,
            version: program.version() ?? '0',
            ...(o.config ? { configFile: o.config } : {}),
          }),
        );
      render(report, where);
      process.exitCode = report.exitCode;
    });
}

function pick<T extends object, K extends keyof T>(o: T, keys: K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

/** readConfig reads --config as kube-apiserver would load it (KMS v1 and any provider order allowed); shared with inspect. */
export async function readConfig(file: string) {
  const { readUserFile } = await import('../../harness/common/user-file.js');
  const { MAX_ENCRYPTION_CONFIG_BYTES } = await import('../lab-options.js');
  const bytes = await readUserFile(file, { what: '--config', maxBytes: MAX_ENCRYPTION_CONFIG_BYTES });
  const { lintEncryptionConfig } = await import('../../harness/kube/encryption-config-lint.js');
  const linted = lintEncryptionConfig(bytes.toString('utf8'), { forLab: false });
  const errors = linted.problems.filter((p) => p.level === 'error');
  if (errors.length)
    throw new KmslabError(
      'usage',
      `${file} would not load in kube-apiserver:\n${errors.map((p) => `${file}:${p.line}: error: ${p.message}`).join('\n')}`,
    );
  for (const p of linted.problems) say(`${file}:${p.line}: ${p.level}: ${p.message}`);
  return { rules: linted.rules, problems: linted.problems };
}

async function readAudit(file: string) {
  const { readUserFile } = await import('../../harness/common/user-file.js');
  const { readCloudAudit } = await import('../../verify/cloud-audit.js');
  return readCloudAudit(await readUserFile(file, { what: '--cloud-audit', maxBytes: MAX_AUDIT_BYTES }), file);
}

const MARK = { pass: 'pass', fail: 'FAIL', undecided: 'NOT DECIDED' } as const;

// Every text that came from the cluster was escaped where the report was made.
function render(r: Awaited<ReturnType<typeof import('../../verify/verify.js').verify>>, where: string): void {
  console.log(`kmslab verify ${printable(where)} (${r.seconds.toFixed(1)} s)\n`);
  console.log(table([['SOURCE', 'STATE', 'WHAT IT GAVE'], ...r.sources.map((s) => [s.source, s.state, s.detail])]));
  console.log();
  for (const res of r.results) {
    const by = res.decidedBy ? ` (by ${res.decidedBy})` : '';
    const cis = res.rule.cis.length ? `  [CIS ${res.rule.cis.join(', ')}]` : '';
    console.log(`${MARK[res.outcome]}  ${printable(res.condition)}${by}${cis}`);
    for (const d of res.decisions) {
      console.log(`    ${d.source}: ${d.outcome} — ${d.reason}`);
      for (const x of d.offenders ?? []) console.log(`      ${x}`);
    }
  }
  const verdict = r.exitCode === 0 ? 'passed' : r.exitCode === 1 ? 'FAILED' : 'NOT DECIDED (exit 3)';
  console.log(`\n${verdict}`);
}
