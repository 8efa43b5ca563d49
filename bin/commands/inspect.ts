import { Command, Option } from '@commander-js/extra-typings';
import { parseDuration } from '../../harness/common/duration.js';
import { KmslabError } from '../../harness/common/errors.js';
import { printable } from '../../harness/common/printable.js';
import { describeFailOn, FAIL_ON_HELP, parseFailOn } from '../../harness/inspect/fail-on.js';
import type { EtcdTls, InspectRow } from '../../harness/inspect/index.js';
import { printJson, table, writeReport } from '../output.js';
import { positiveInt } from './lab.js';

const SHOWN_OFFENDERS = 20;
// Offending keys a JUnit testcase names (per condition and resource); --json lists them all.
const JUNIT_KEYS = 1000;
// The most a CA bundle, certificate or key file may hold (a system CA bundle is ~200 KiB).
const MAX_PEM_BYTES = 4 * 1024 * 1024;

/** Exit codes of `kmslab inspect`: documented in its --help and the README. */
export const INSPECT_EXIT = { passed: 0, gateFailed: 1, usage: 2, etcdUnreadable: 3 } as const;

const EXIT_HELP = `
Exit codes:
  0  every value passed the gate (--fail-on)
  1  the gate failed: some value meets a --fail-on condition (the offending keys are listed)
  2  usage: a bad flag or file, no such lab
  3  etcd could not be read: not reachable within --dial-timeout, TLS or authentication refused, a call past --timeout

Keys, key_ids and names from etcd are printed escaped (\\x1b, \\u202e, \\\\, and \\xNN for bytes that are not UTF-8);
--json gives each key also as keyBase64, its exact bytes.`;

export function inspectCommand(program: Command): void {
  program
    .command('inspect')
    .description(
      'read raw etcd and show how every value is stored (plaintext, aescbc, aesgcm, secretbox, KMS v1, KMS v2, invalid, unknown); read-only: it never writes to etcd',
    )
    .option('--name <name>', 'lab whose etcd to read', 'default')
    .option('--etcd <urls>', 'read these etcd client URLs instead of a lab (comma-separated; env ETCDCTL_ENDPOINTS)')
    .option('--cacert <file>', 'CA bundle of an https etcd (env ETCDCTL_CACERT)')
    .option('--cert <file>', 'client certificate for etcd (env ETCDCTL_CERT)')
    .option('--key <file>', 'client key for etcd (env ETCDCTL_KEY)')
    .option('--prefix <prefix>', 'key prefix to scan', '/registry/')
    .option('--resource <resource>', 'shorthand for --prefix /registry/<resource>/ (e.g. secrets)')
    .option('--keys', 'also print a row per key (the default is the summary: one screen however large etcd is)')
    .addOption(new Option('--summary', 'the summary only, also in --json (the default on a terminal)').hideHelp())
    .option('--page-size <n>', 'keys per etcd range request', positiveInt)
    .addOption(
      new Option('--lanes <n>', 'disjoint key ranges read at once (1: one ordered scan; default 2)')
        .argParser(positiveInt)
        .hideHelp(),
    )
    .addOption(
      new Option(
        '--dial-timeout <duration>',
        'how long each endpoint may take to connect and answer first (TCP, TLS, HTTP/2) before the next is tried',
      )
        .env('ETCDCTL_DIAL_TIMEOUT')
        // The library's DIAL_TIMEOUT_MS; not imported, so that building the CLI does not load grpc-js.
        .default(2_000, '2s, as etcdctl')
        .argParser(timeoutFlag('--dial-timeout', 3_600_000)),
    )
    .addOption(
      new Option('--timeout <duration>', 'deadline of each etcd call once connected (a bare number is seconds)')
        .default(30_000, '30s')
        .argParser(timeoutFlag('--timeout', 86_400_000)),
    )
    .option(
      '--fail-on <condition>',
      `exit 1 and list the offending keys when a value matches; repeatable: ${FAIL_ON_HELP.replace(/, or none$/, ', config (with --config), or none')} (default: invalid, unknown)`,
      (v: string, prev: string[] | undefined) => [...(prev ?? []), v],
    )
    .option(
      '--config <file>',
      'the EncryptionConfiguration the cluster should run: adds --fail-on config (a value under a resource it names and encrypts, stored otherwise)',
    )
    .option('--json', 'print as one JSON object')
    .option('--junit <file>', 'also write JUnit XML: a testcase per --fail-on condition and resource')
    .addHelpText('after', EXIT_HELP)
    .action(async (o) => {
      const values = o.failOn ?? ['invalid', 'unknown'];
      if (values.includes('config') && !o.config)
        throw new KmslabError(
          'usage',
          '--fail-on config compares with an EncryptionConfiguration: add --config <file>',
        );
      const failOn = parseFailOn(values.filter((v) => v !== 'config'));
      const checks = o.config
        ? [
            (await import('../../verify/config-claims.js')).configCheck(
              (await (await import('./verify.js')).readConfig(o.config)).rules,
            ),
          ]
        : [];
      const { urls, tls } = await target(o);
      const prefix = o.resource ? `/registry/${o.resource}/` : o.prefix;
      // Rows are kept only for output that shows them: --json (every key) or --keys.
      const keepRows = !o.summary && (o.json || o.keys);
      const rows: Array<InspectRow & { keyBase64: string }> = [];
      const { inspectEtcd } = await import('../../harness/inspect/inspect.js');
      const { Gate } = await import('../../harness/inspect/gate.js');
      const newGate = () =>
        new Gate([...failOn, ...checks], {
          offenders: o.json ? Infinity : SHOWN_OFFENDERS,
          perCase: o.junit ? JUNIT_KEYS : 0,
        });
      const gate = newGate();
      const started = performance.now();
      let report: Omit<Awaited<ReturnType<typeof inspectEtcd>>, 'sinks'>;
      try {
        // Key ranges are read at once, each into a gate (and rows) of its own, merged in key order: what one
        // ordered scan would give.
        const { sinks, ...rest } = await inspectEtcd({
          etcd: urls,
          prefix,
          timeoutMs: o.timeout,
          dialTimeoutMs: o.dialTimeout,
          ...(tls ? { tls } : {}),
          ...(o.pageSize ? { pageSize: o.pageSize } : {}),
          ...(o.lanes ? { lanes: o.lanes } : {}),
          sink: () => {
            const lane = { gate: newGate(), rows: [] as typeof rows };
            return {
              ...lane,
              add: (row: InspectRow, rawKey: Buffer) => {
                if (keepRows) lane.rows.push({ ...row, keyBase64: rawKey.toString('base64') });
                lane.gate.check(row, rawKey);
              },
            };
          },
        });
        report = rest;
        for (const lane of sinks) {
          gate.merge(lane.gate);
          for (const row of lane.rows) rows.push(row);
        }
      } catch (error) {
        // Not a usage error, nor the gate's verdict: its own exit code, so CI tells "could not look" from "failed".
        const message = `could not read etcd at ${urls.join(',')}: ${(error as Error).message}`;
        process.stderr.write(`kmslab: ${printable(message)}\n`);
        if (o.junit) {
          const { inspectJUnit } = await import('../../harness/inspect/junit.js');
          const seconds = (performance.now() - started) / 1000;
          await writeReport(
            o.junit,
            inspectJUnit({ etcd: urls, prefix, seconds, total: 0, cases: [], error: message }),
          );
        }
        if (o.json) printJson({ etcd: urls, prefix, error: message, exitCode: INSPECT_EXIT.etcdUnreadable });
        process.exitCode = INSPECT_EXIT.etcdUnreadable;
        return;
      }
      process.exitCode = gate.failed ? INSPECT_EXIT.gateFailed : INSPECT_EXIT.passed;
      if (o.junit) {
        const { inspectJUnit } = await import('../../harness/inspect/junit.js');
        const { revision, seconds } = report;
        const run = { etcd: urls, prefix, revision, seconds, total: report.summary.total, cases: gate.cases };
        await writeReport(o.junit, inspectJUnit(run));
      }
      if (o.json) {
        printJson({
          etcd: urls,
          ...report,
          failOn: [...failOn.map(describeFailOn), ...checks.map((c) => c.name)],
          offending: gate.offending,
          offenders: gate.offenders,
          ...(keepRows ? { rows } : {}),
        });
        return;
      }
      // Everything below came from etcd (keys, resource paths, provider names, key_ids, reasons): shown escaped.
      const show = (text: string) => printable(text);
      if (keepRows) {
        console.log(
          table([
            ['KEY', 'STORED AS', 'PROVIDER/KEY', 'KEY_ID', 'DEK SOURCE', 'BYTES'],
            ...rows.map((r) => [
              printable(Buffer.from(r.keyBase64, 'base64')),
              r.class === 'identity'
                ? `plaintext (${r.encoding})`
                : r.class === 'invalid'
                  ? `invalid ${r.claims}`
                  : r.class,
              show(r.name ?? ''),
              show(r.kmsV2?.keyId ?? ''),
              r.error ? `error: ${show(r.error)}` : (r.kmsV2?.dekSourceType ?? ''),
              String(r.bytes),
            ]),
          ]),
        );
        console.log();
      }
      const s = report.summary;
      console.log(
        `${s.total} keys under ${show(prefix)} at revision ${report.revision ?? '-'} (${report.seconds.toFixed(2)} s)`,
      );
      console.log(
        table([
          ['RESOURCE', 'TOTAL', 'STORED AS'],
          ...Object.entries(s.byResource).map(([res, r]) => [
            show(res),
            String(r.total),
            formatCounts(r.byClass, r.total),
          ]),
        ]),
      );
      for (const [provider, keyIds] of Object.entries(s.byKeyId)) {
        console.log(`\nKMS v2 provider ${show(provider)}:`);
        console.log(table([['KEY_ID', 'VALUES'], ...Object.entries(keyIds).map(([k, n]) => [show(k), String(n)])]));
      }
      if (gate.failed) {
        console.log(
          `\n${gate.offending} value(s) match --fail-on ${[...failOn.map(describeFailOn), ...checks.map((c) => c.name)].join(', ')}:`,
        );
        for (const x of gate.offenders)
          console.log(
            `  ${printable(Buffer.from(x.keyBase64, 'base64'))}  ${show(x.condition)}${x.reason ? ` (${show(x.reason)})` : ''}`,
          );
        if (gate.offending > gate.offenders.length)
          console.log(`  … and ${gate.offending - gate.offenders.length} more (--json lists all)`);
      }
    });
}

// A timeout flag: a duration (2s, 500ms, 1m) or, as before, a bare number of seconds.
export function timeoutFlag(flag: string, maxMs: number) {
  return (text: string): number =>
    /^\d+$/.test(text) ? parseDuration(`${text}s`, { what: flag, maxMs }) : parseDuration(text, { what: flag, maxMs });
}

// Where to read: explicit URLs (flags, then etcdctl's environment), else the lab's own etcd.
export async function target(o: {
  name: string;
  etcd?: string;
  cacert?: string;
  cert?: string;
  key?: string;
}): Promise<{ urls: string[]; tls?: EtcdTls }> {
  const env = process.env;
  const endpoints = o.etcd ?? env.ETCDCTL_ENDPOINTS;
  const files = {
    cacert: o.cacert ?? env.ETCDCTL_CACERT,
    cert: o.cert ?? env.ETCDCTL_CERT,
    key: o.key ?? env.ETCDCTL_KEY,
  };
  if (!endpoints) {
    const { readLab } = await import('../../harness/labs/registry.js');
    const lab = await readLab(o.name);
    if (!lab)
      throw new KmslabError('not-found', `no lab named "${o.name}"; pass --etcd <url> or start one with kmslab up`);
    // kind's etcd (kubeadm's) requires a client certificate: the one the lab copied out of the node.
    if (!lab.kind) return { urls: [lab.etcd] };
    const { kindEtcdTls } = await import('../../harness/backends/kind/kind-access.js');
    return { urls: [lab.etcd], tls: await kindEtcdTls(lab) };
  }
  const urls = endpoints
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean)
    .map(checkUrl);
  if (Boolean(files.cert) !== Boolean(files.key)) {
    throw new KmslabError('usage', '--cert and --key go together: give both (or neither)');
  }
  const https = urls.some((u) => u.startsWith('https:'));
  if (!https) {
    if (files.cacert || files.cert)
      throw new KmslabError('usage', 'TLS files were given for an http:// etcd; use https:// URLs');
    return { urls };
  }
  if (!files.cacert)
    throw new KmslabError('usage', `an https etcd needs --cacert <file> (the CA that signed its serving certificate)`);
  const { readUserFile } = await import('../../harness/common/user-file.js');
  const read = (flag: string, file: string) => readUserFile(file, { what: flag, maxBytes: MAX_PEM_BYTES });
  return {
    urls,
    tls: {
      caPem: await read('--cacert', files.cacert),
      ...(files.cert ? { certPem: await read('--cert', files.cert), keyPem: await read('--key', files.key!) } : {}),
    },
  };
}

function checkUrl(url: string): string {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || !parsed.port) {
    throw new KmslabError(
      'usage',
      `--etcd "${printable(url, 200)}" is not an etcd client URL; use http(s)://host:port, e.g. https://10.0.0.5:2379`,
    );
  }
  return url;
}

function formatCounts(counts: Record<string, number>, total: number): string {
  return Object.entries(counts)
    .map(([cls, n]) => `${cls === 'identity' ? 'plaintext' : cls} ${n} (${((100 * n) / total).toFixed(1)}%)`)
    .join(', ');
}
