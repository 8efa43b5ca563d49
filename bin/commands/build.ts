import { Command } from '@commander-js/extra-typings';
import { buildProgress, printJson, say } from '../output.js';

export function buildCommand(program: Command): void {
  program
    .command('build')
    .description('find or build etcd and kube-apiserver (from pinned Go modules) into the per-machine cache')
    .option('--k8s-version <version>', 'kube-apiserver version')
    .option('--etcd-version <version>', 'etcd version')
    .option(
      '--tools',
      'also build kind and compose-check (the tests validate the kind and compose configs with them), and local-kms and aws-kms-plugin (the third-party plugin stack)',
    )
    .option('--json', 'print where each binary came from as JSON')
    .action(async (o) => {
      const { findBinary } = await import('../../harness/binaries/index.js');
      const onProgress = buildProgress();
      const found = [
        await findBinary('etcd', { onProgress, ...(o.etcdVersion ? { version: o.etcdVersion } : {}) }),
        await findBinary('kube-apiserver', { onProgress, ...(o.k8sVersion ? { version: o.k8sVersion } : {}) }),
      ];
      if (o.tools)
        for (const tool of ['kind', 'compose-check', 'local-kms', 'aws-kms-plugin'] as const)
          found.push(await findBinary(tool, { onProgress }));
      if (o.json) printJson(found);
      else for (const b of found) say(`✓ ${b.component} ${b.version ?? ''} (${b.source}): ${b.path}`);
    });
}
