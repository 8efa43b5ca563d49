import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants } from 'node:os';
import { KmslabError } from '../common/errors.js';
import { printable } from '../common/printable.js';
import { checkShardArgs, checkShardCount } from './indexed-job.js';
import { failedShardLine, frameShardResult } from './shard-log.js';
import type { Shard } from './shard.js';

export interface JobShardOptions {
  shards: number;
  /** The kmslab command, as in the manifest (`run --tag core`). */
  args: string[];
  /** The kmslab entry script the shard runs in a child (`bin/kmslab.js`). */
  entry: string;
  env?: NodeJS.ProcessEnv;
  /** Where the framed result goes: the pod's log (stdout). */
  write?: (text: string) => void;
}

/**
 * jobShardOf reads the pod's shard from `JOB_COMPLETION_INDEX`, which the Job controller sets in every pod of an
 * Indexed Job (0-based): shard index+1 of n.
 */
export function jobShardOf(env: NodeJS.ProcessEnv, shards: number): Shard {
  checkShardCount(shards);
  const raw = env.JOB_COMPLETION_INDEX;
  const index = Number(raw);
  if (raw === undefined || !/^\d{1,4}$/.test(raw) || index >= shards) {
    throw new KmslabError(
      'usage',
      raw === undefined
        ? 'JOB_COMPLETION_INDEX is not set: kmslab job shard runs in a pod of an Indexed Job (kmslab job manifest); elsewhere run the command with --shard i/n'
        : `JOB_COMPLETION_INDEX "${printable(raw, 20)}" is not an index from 0 to ${shards - 1}: the Job's completions and --shards differ; make the manifest with kmslab job manifest`,
    );
  }
  return { index: index + 1, count: shards };
}

/**
 * runJobShard runs the pod's shard — `kmslab <args> --shard i/n --result <tmp>` in a child, in a directory of its
 * own under TMPDIR (artifacts land there, not in the image) — then prints its result file framed in the log, or a
 * line saying the shard failed without one. SIGTERM and SIGINT (the pod deleted) go to the child, which writes an
 * interrupted result. Resolves to the child's exit code (128 + signal when it was killed).
 */
export async function runJobShard(o: JobShardOptions): Promise<number> {
  checkShardArgs(o.args);
  const env = o.env ?? process.env;
  const shard = jobShardOf(env, o.shards);
  const write = o.write ?? ((text: string) => void process.stdout.write(text));
  const dir = await mkdtemp(join(tmpdir(), `kmslab-shard-${shard.index}-`));
  const result = join(dir, 'result.json');
  try {
    const child = spawn(
      process.execPath,
      [o.entry, ...o.args, '--shard', `${shard.index}/${shard.count}`, '--result', result],
      { cwd: dir, env, stdio: 'inherit' },
    );
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    process.on('SIGTERM', forward).on('SIGINT', forward);
    const code = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (exit, signal) => resolve(exit ?? 128 + (signal ? constants.signals[signal] : 0)));
    }).finally(() => process.off('SIGTERM', forward).off('SIGINT', forward));
    const bytes = await readFile(result).catch(() => undefined);
    if (bytes?.length) write(`${frameShardResult(bytes, shard).join('\n')}\n`);
    else write(`${failedShardLine(shard, `kmslab exited ${code} with no result file`)}\n`);
    return bytes?.length || code !== 0 ? code : 1;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
