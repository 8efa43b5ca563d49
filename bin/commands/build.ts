import { Command } from '@commander-js/extra-typings';
import { KmslabError } from '../../harness/common/errors.js';
import { buildProgress, printJson, say, table } from '../output.js';

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
    .option(
      '--images',
      'build (or reuse) every image the kind and compose backends run: a kind node image and the compose images, all made on this machine (needs a running engine: kmslab engine start)',
    )
    .option('--json', 'print where each binary came from as JSON')
    .action(async (o) => {
      const { findBinary } = await import('../../harness/binaries/index.js');
      const onProgress = buildProgress();
      if (o.images) {
        const { buildImages, K8S_VERSION, ETCD_VERSION, removeBuildContainers } =
          await import('../../harness/images/index.js');
        // Ctrl-C: a half-assembled node container would otherwise run on (`sleep infinity`) after kmslab exits.
        const interrupted = () => {
          say('\ninterrupted: removing the build containers');
          void removeBuildContainers().finally(() => process.exit(130));
        };
        process.once('SIGINT', interrupted);
        process.once('SIGTERM', interrupted);
        if ((o.k8sVersion && o.k8sVersion !== K8S_VERSION) || (o.etcdVersion && o.etcdVersion !== ETCD_VERSION)) {
          throw new KmslabError(
            'usage',
            `--images builds kube ${K8S_VERSION} and etcd ${ETCD_VERSION} only; other versions run on the local backend (kmslab build --k8s-version …) or, on kind, from a node image of your own (--image)`,
          );
        }
        const started = Date.now();
        const pieces = await buildImages({ say, onBuildProgress: onProgress });
        if (o.json) printJson(pieces);
        else {
          console.log(
            table([
              ['PIECE', 'BUILT', 'SECONDS', 'RESULT'],
              ...pieces.map((p) => [p.piece, p.built ? 'now' : 'cached', String(p.seconds), p.result]),
            ]),
          );
          for (const p of pieces.filter((p) => p.note)) console.log(`note: ${p.note}`);
          say(`✓ images ready in ${((Date.now() - started) / 1000).toFixed(0)} s`);
        }
        return;
      }
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
