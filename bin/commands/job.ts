import { Command, Option } from '@commander-js/extra-typings';

export function jobCommands(program: Command): void {
  const job = program
    .command('job')
    .description(
      "a run's shards as a Kubernetes Indexed Job: each pod runs one shard with labs as processes (no privilege) and prints its result in its log; kmslab merge reads the logs",
    );
  job
    .command('manifest')
    .description(
      'print the Indexed Job (completions = parallelism = n) whose pod i runs shard i+1/n of the kmslab command after --, e.g.: kmslab job manifest --shards 3 -- run --tag core',
    )
    .requiredOption('--shards <n>', 'how many shards, one pod each (1 to 256)')
    .argument('<command...>', 'after --: the kmslab run, conformance or chaos command, without --shard and --result')
    .option('--name <name>', 'the Job name (default kmslab-<command>)')
    .option('--namespace <namespace>', "the Job's namespace (default: kubectl's)")
    .option('--image <image>', "kmslab's image (default kmslab/kmslab:local, from kmslab build --images)")
    .addOption(
      new Option('--pull-policy <policy>', 'imagePullPolicy: Never for an image loaded into the nodes (kind)')
        .choices(['Never', 'IfNotPresent', 'Always'] as const)
        .default('Never' as const),
    )
    .option('--cpu <quantity>', 'CPU each pod requests (default 1; no limit: throttling would stretch timed waits)')
    .option('--memory <quantity>', 'memory each pod requests, and its limit (default 2Gi)')
    .action(async (args, o) => {
      const { indexedJobManifest, parseShardCount } = await import('../../harness/shards/index.js');
      const { KMSLAB_IMAGE } = await import('../../harness/images/index.js');
      process.stdout.write(
        indexedJobManifest({
          shards: parseShardCount(o.shards),
          args,
          image: o.image ?? KMSLAB_IMAGE,
          pullPolicy: o.pullPolicy,
          ...(o.cpu !== undefined ? { cpu: o.cpu } : {}),
          ...(o.memory !== undefined ? { memory: o.memory } : {}),
          ...(o.name !== undefined ? { name: o.name } : {}),
          ...(o.namespace !== undefined ? { namespace: o.namespace } : {}),
        }),
      );
    });
  job
    .command('shard')
    .description(
      "what each pod of the job runs: shard JOB_COMPLETION_INDEX+1 of n of the command after --, then its result file framed in the log (or a line saying the shard failed); exits as the shard's kmslab did",
    )
    .requiredOption('--shards <n>', 'n, as in the manifest')
    .argument('<command...>', 'after --: the kmslab command, as in the manifest')
    .action(async (args, o) => {
      const { parseShardCount, runJobShard } = await import('../../harness/shards/index.js');
      process.exitCode = await runJobShard({ shards: parseShardCount(o.shards), args, entry: process.argv[1]! });
    });
}
