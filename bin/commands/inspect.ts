import { Command } from '@commander-js/extra-typings';
import { KmslabError } from '../../harness/common/errors.js';
import { inspectEtcd, type InspectRow } from '../../harness/inspect/index.js';
import { readLab } from '../../harness/labs/registry.js';
import { printJson, table } from '../output.js';
import { positiveInt } from './lab.js';

export function inspectCommand(program: Command): void {
  program
    .command('inspect')
    .description(
      'read raw etcd and show how every value is stored (plaintext, aescbc, aesgcm, secretbox, KMS v1, KMS v2)',
    )
    .option('--name <name>', 'lab whose etcd to read', 'default')
    .option('--etcd <url>', 'read this etcd instead of a lab (plain http client URL)')
    .option('--prefix <prefix>', 'key prefix to scan', '/registry/')
    .option('--resource <resource>', 'shorthand for --prefix /registry/<resource>/ (e.g. secrets)')
    .option('--summary', 'print only the summary, no per-key rows')
    .option('--page-size <n>', 'keys per etcd range request', positiveInt)
    .option('--json', 'print as one JSON object')
    .action(async (o) => {
      let etcd = o.etcd;
      if (!etcd) {
        const lab = await readLab(o.name);
        if (!lab)
          throw new KmslabError('not-found', `no lab named "${o.name}"; pass --etcd <url> or start one with kmslab up`);
        etcd = lab.etcd;
      }
      const prefix = o.resource ? `/registry/${o.resource}/` : o.prefix;
      const rows: InspectRow[] = [];
      const report = await inspectEtcd({
        etcd,
        prefix,
        ...(o.pageSize ? { pageSize: o.pageSize } : {}),
        ...(o.summary ? {} : { onRow: (row: InspectRow) => rows.push(row) }),
      }).catch((error: Error) => {
        throw new KmslabError('failed', `could not read etcd at ${etcd}: ${error.message}`);
      });
      if (o.json) {
        printJson({ etcd, ...report, ...(o.summary ? {} : { rows }) });
        return;
      }
      if (!o.summary) {
        console.log(
          table([
            ['KEY', 'STORED AS', 'PROVIDER/KEY', 'KEY_ID', 'DEK SOURCE', 'BYTES'],
            ...rows.map((r) => [
              r.key,
              r.class === 'identity' ? `plaintext (${r.encoding})` : r.class,
              r.name ?? '',
              r.kmsV2?.keyId ?? '',
              r.kmsV2?.dekSourceType ?? (r.error ? `error: ${r.error}` : ''),
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
      if (s.errors) console.log(`\n${s.errors} value(s) could not be decoded; see the rows marked error`);
    });
}

function formatCounts(counts: Record<string, number>, total: number): string {
  return Object.entries(counts)
    .map(([cls, n]) => `${cls === 'identity' ? 'plaintext' : cls} ${n} (${((100 * n) / total).toFixed(1)}%)`)
    .join(', ');
}
