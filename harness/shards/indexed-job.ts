import { stringify } from 'yaml';
import { KmslabError } from '../common/errors.js';
import { printable } from '../common/printable.js';
import { CELL_COMMANDS, type CellCommand } from './cell.js';
import { MAX_SHARDS } from './shard.js';

/** What each shard's pod asks for by default: a lab (etcd, kube-apiserver, the plugin, kmslab) fits in 2 GiB. */
export const JOB_RESOURCES = { cpu: '1', memory: '2Gi' };

export interface IndexedJobOptions {
  /** n: completions = parallelism = n, one pod per shard. */
  shards: number;
  /** The kmslab command each shard runs, without --shard and --result: `run --tag core`, `chaos --seeds 1..50`… */
  args: string[];
  /** Job name (a DNS label); default `kmslab-<command>`. */
  name?: string;
  namespace?: string;
  /** The image: kmslab's own (`kmslab build --images`), or one pushed where the cluster pulls from. */
  image: string;
  /** Default `Never`: the image is loaded into the nodes (kind), nothing is pulled. */
  pullPolicy?: 'Never' | 'IfNotPresent' | 'Always';
  /** CPU request and memory request (= limit) per pod; default JOB_RESOURCES. */
  cpu?: string;
  memory?: string;
}

/**
 * indexedJobManifest writes the Job that runs a kmslab command's n shards as an Indexed Job: pod i runs
 * `kmslab job shard --shards n -- <args>`, which runs shard `JOB_COMPLETION_INDEX+1`/n and prints its result file
 * framed in the pod's log (shard-log.ts), for `kmslab merge` to read from `kubectl logs`. n and the command are
 * written once here, so the pods cannot disagree on them.
 */
export function indexedJobManifest(o: IndexedJobOptions): string {
  const command = checkShardArgs(o.args);
  checkShardCount(o.shards);
  const name = o.name ?? `kmslab-${command}`;
  checkName(name, o.shards);
  if (o.namespace !== undefined) checkDnsLabel(o.namespace, '--namespace', 63);
  const cpu = checkQuantity(o.cpu ?? JOB_RESOURCES.cpu, '--cpu');
  const memory = checkQuantity(o.memory ?? JOB_RESOURCES.memory, '--memory');
  const labels = { 'app.kubernetes.io/name': 'kmslab', 'app.kubernetes.io/component': `${command}-shards` };
  const job = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, ...(o.namespace ? { namespace: o.namespace } : {}), labels },
    spec: {
      completionMode: 'Indexed',
      completions: o.shards,
      parallelism: o.shards,
      // A failed shard is not run again: its pod's log says why, and merge names the shard. The other shards go on.
      backoffLimitPerIndex: 0,
      // …unless the pod was only evicted or preempted (a node drained): that shard runs again.
      podFailurePolicy: { rules: [{ action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget' }] }] },
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: 'kmslab',
              image: o.image,
              imagePullPolicy: o.pullPolicy ?? 'Never',
              args: ['job', 'shard', '--shards', String(o.shards), '--', ...o.args],
              // No CPU limit: a throttled apiserver would stretch the waits the scenarios time.
              resources: { requests: { cpu, memory }, limits: { memory } },
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
              },
              // Labs, their etcd data and tsx's cache: the image's HOME and TMPDIR.
              volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
            },
          ],
          volumes: [{ name: 'tmp', emptyDir: {} }],
        },
      },
    },
  };
  const selector = `job-name=${name}`;
  const ns = o.namespace ? ` -n ${o.namespace}` : '';
  return [
    `# kmslab ${command}, ${o.shards} shard(s) as an Indexed Job (kmslab job manifest). Then:`,
    `#   until kubectl${ns} get job ${name} -o jsonpath='{.status.conditions[?(@.status=="True")].type}' | grep -qE 'Complete|Failed'; do sleep 10; done`,
    `#   kubectl${ns} logs -l ${selector} --tail=-1 --prefix --ignore-errors > ${name}.log`,
    `#   kmslab merge ${name}.log --json ${name}.json`,
    stringify(job, { lineWidth: 0, aliasDuplicateObjects: false }),
  ].join('\n');
}

/**
 * checkShardArgs checks the kmslab command a job's pods run and returns it: run, conformance or chaos, without the
 * flags each pod sets itself, on a backend a pod can run (labs as processes: local, or the sim).
 */
export function checkShardArgs(args: string[]): CellCommand {
  const command = args[0] ?? '';
  if (!(CELL_COMMANDS as readonly string[]).includes(command)) {
    throw new KmslabError(
      'usage',
      `each shard runs kmslab ${CELL_COMMANDS.join(', ')}; got ${command ? `"${printable(command, 40)}"` : 'no command'}: put it after --, e.g. -- run --tag core`,
    );
  }
  for (const arg of args.slice(1)) {
    const flag = arg.split('=')[0]!;
    if (['--shard', '--result', '--list-cells'].includes(flag))
      throw new KmslabError(
        'usage',
        `${flag} is set by the job for each pod (its shard, its result in the log): leave it out`,
      );
    if (flag === '--keep') throw new KmslabError('usage', '--keep has no use in a pod: its labs end with it');
  }
  const at = args.findIndex((a) => a === '--backend' || a.startsWith('--backend='));
  const backend = at < 0 ? undefined : args[at]!.includes('=') ? args[at]!.split('=')[1] : args[at + 1];
  if (backend === 'kind' || backend === 'compose') {
    throw new KmslabError(
      'usage',
      `--backend ${backend} needs a container engine, which a pod has not: shards run labs as processes in their pods (--backend local, the default, or sim)`,
    );
  }
  return command as CellCommand;
}

/** parseShardCount reads `--shards n`: a whole number with 1 ≤ n ≤ MAX_SHARDS, as --shard i/n allows. */
export function parseShardCount(text: string): number {
  const n = /^\s*\d{1,4}\s*$/.test(text) ? Number(text) : NaN;
  checkShardCount(n, text);
  return n;
}

/** checkShardCount throws a usage error unless 1 ≤ n ≤ MAX_SHARDS. */
export function checkShardCount(n: number, given: string = String(n)): void {
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_SHARDS)
    throw new KmslabError('usage', `--shards "${printable(given, 20)}": give a whole number from 1 to ${MAX_SHARDS}`);
}

// Pods of an Indexed Job are named and get the hostname `<job>-<index>`, which must stay a DNS label.
function checkName(name: string, shards: number): void {
  checkDnsLabel(name, '--name', 63 - `-${shards - 1}`.length);
}

function checkDnsLabel(value: string, flag: string, max: number): void {
  if (value.length > max || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(value))
    throw new KmslabError(
      'usage',
      `${flag} "${printable(value, 80)}" is not a DNS label of at most ${max} characters: lower-case letters, digits and '-', starting and ending with a letter or digit`,
    );
}

function checkQuantity(value: string, flag: string): string {
  if (!/^(\d+(\.\d+)?|\.\d+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/.test(value) || Number.parseFloat(value) === 0)
    throw new KmslabError(
      'usage',
      `${flag} "${printable(value, 40)}" is not a Kubernetes quantity above 0: e.g. --cpu 500m, --memory 1536Mi`,
    );
  return value;
}
