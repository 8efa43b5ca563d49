import { Command } from '@commander-js/extra-typings';
import { join } from 'node:path';
import { K8S_VERSION } from '../../harness/images/versions.js';

export function kindCommands(program: Command): void {
  const kind = program.command('kind').description('the kind backend (needs Linux and an engine: kmslab engine start)');
  kind
    .command('config')
    .description('print the kind cluster config kmslab generates for a lab: mounts and kubeadm patches for KMS v2')
    .option('--name <name>', 'lab name', 'default')
    .option('--k8s-version <version>', 'node image Kubernetes version', K8S_VERSION)
    .option('--image <image>', 'node image (default kmslab/kind-node:<k8s-version>, from kmslab build --images)')
    .action(async (o) => {
      const { kindConfigYaml } = await import('../../harness/backends/kind/kind-config.js');
      const { checkLabName, labDir } = await import('../../harness/labs/registry.js');
      checkLabName(o.name);
      const dir = labDir(o.name);
      process.stdout.write(
        kindConfigYaml({
          name: `kmslab-${o.name}`,
          k8sVersion: o.k8sVersion,
          hostKmsDir: join(dir, 'kms'),
          hostConfigDir: join(dir, 'encryption'),
          ...(o.image ? { image: o.image } : {}),
        }),
      );
    });
}
