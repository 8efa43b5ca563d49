import { readFile } from 'node:fs/promises';
import { Command, Option } from '@commander-js/extra-typings';
import { KmslabError } from '../../harness/common/errors.js';
import { breaks, describeFailOn, FAIL_ON_HELP, parseFailOn } from '../../harness/inspect/fail-on.js';
import type { EtcdTls, InspectRow } from '../../harness/inspect/index.js';
import { printJson, table } from '../output.js';
import { positiveInt } from './lab.js';

const SHOWN_OFFENDERS = 20;

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
    .option('--timeout <seconds>', 'deadline of each etcd call', positiveInt, 30)
    .option(
      '--fail-on <condition>',
      `exit 1 and list the offending keys when a value matches; repeatable: ${FAIL_ON_HELP} (default: invalid, unknown)`,
      (v: string, prev: string[] | undefined) => [...(prev ?? []), v],
    )
    .option('--json', 'print as one JSON object')
    .action(async (o) => {
      const failOn = parseFailOn(o.failOn ?? ['invalid', 'unknown']);
      const { urls, tls } = await target(o);
      const prefix = o.resource ? `/registry/${o.resource}/` : o.prefix;
      // Rows are kept only for output that shows them: --json (every key) or --keys.
      const keepRows = !o.summary && (o.json || o.keys);
      const rows: InspectRow[] = [];
      const offenders: Array<{ key: string; condition: string; class: string; reason?: string }> = [];
      let offending = 0;
      const { inspectEtcd } = await import('../../harness/inspect/inspect.js');
      const report = await inspectEtcd({
        etcd: urls,
        prefix,
        timeoutMs: o.timeout * 1000,
        ...(tls ? { tls } : {}),
        ...(o.pageSize ? { pageSize: o.pageSize } : {}),
        onRow: (row: InspectRow) => {
          if (keepRows) rows.push(row);
          const hit = breaks(row, failOn);
          if (!hit) return;
          offending++;
          if (o.json || offenders.length < SHOWN_OFFENDERS)
            offenders.push({
              key: row.key,
              condition: describeFailOn(hit),
              class: row.class,
              ...(row.error ? { reason: row.error } : {}),
            });
        },
      }).catch((error: Error) => {
        throw new KmslabError('failed', `could not read etcd at ${urls.join(',')}: ${error.message}`);
      });
      if (offending > 0) process.exitCode = 1;
      if (o.json) {
        printJson({
          etcd: urls,
          ...report,
          failOn: failOn.map(describeFailOn),
          offending,
          offenders,
          ...(keepRows ? { rows } : {}),
        });
        return;
      }
      if (keepRows) {
        console.log(
          table([
            ['KEY', 'STORED AS', 'PROVIDER/KEY', 'KEY_ID', 'DEK SOURCE', 'BYTES'],
            ...rows.map((r) => [
              r.key,
              r.class === 'identity'
                ? `plaintext (${r.encoding})`
                : r.class === 'invalid'
                  ? `invalid ${r.claims}`
                  : r.class,
              r.name ?? '',
              r.kmsV2?.keyId ?? '',
              r.error ? `error: ${r.error}` : (r.kmsV2?.dekSourceType ?? ''),
              String(r.bytes),
            ]),
          ]),
        );
        console.log();
      }
      const s = report.summary;
      console.log(
        `${s.total} keys under ${prefix} at revision ${report.revision ?? '-'} (${report.seconds.toFixed(2)} s)`,
      );
      console.log(
        table([
          ['RESOURCE', 'TOTAL', 'STORED AS'],
          ...Object.entries(s.byResource).map(([res, r]) => [res, String(r.total), formatCounts(r.byClass, r.total)]),
        ]),
      );
      for (const [provider, keyIds] of Object.entries(s.byKeyId)) {
        console.log(`\nKMS v2 provider ${provider}:`);
        console.log(table([['KEY_ID', 'VALUES'], ...Object.entries(keyIds).map(([k, n]) => [k, String(n)])]));
      }
      if (offending > 0) {
        console.log(`\n${offending} value(s) match --fail-on ${failOn.map(describeFailOn).join(', ')}:`);
        for (const x of offenders) console.log(`  ${x.key}  ${x.condition}${x.reason ? ` (${x.reason})` : ''}`);
        if (offending > offenders.length)
          console.log(`  … and ${offending - offenders.length} more (--json lists all)`);
      }
    });
}

// Where to read: explicit URLs (flags, then etcdctl's environment), else the lab's own etcd.
async function target(o: {
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
  const read = (flag: string, file: string) =>
    readFile(file).catch((error: NodeJS.ErrnoException) => {
      throw new KmslabError('usage', `${flag} ${file}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`);
    });
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
      `--etcd "${url}" is not an etcd client URL; use http(s)://host:port, e.g. https://10.0.0.5:2379`,
    );
  }
  return url;
}

function formatCounts(counts: Record<string, number>, total: number): string {
  return Object.entries(counts)
    .map(([cls, n]) => `${cls === 'identity' ? 'plaintext' : cls} ${n} (${((100 * n) / total).toFixed(1)}%)`)
    .join(', ');
}
