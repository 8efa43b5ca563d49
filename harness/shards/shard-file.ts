import { z } from 'zod';
import { KmslabError } from '../common/errors.js';
import { printable } from '../common/printable.js';
import { readUserFile } from '../common/user-file.js';
import { CELL_COMMANDS, cellId } from './cell.js';
import { MAX_SHARDS } from './shard.js';
import type { ShardPlan } from './shard-plan.js';

export const SHARD_FORMAT = 'kmslab-shard-result';
export const SHARD_FORMAT_VERSION = 1;
/** The largest result file merge reads (a shard of 5,000-Secret scenarios with full evidence fits easily). */
export const MAX_SHARD_FILE_BYTES = 256 * 1024 * 1024;

const shardFileSchema = z.object({
  format: z.literal(SHARD_FORMAT),
  formatVersion: z.literal(SHARD_FORMAT_VERSION),
  kmslabVersion: z.string().max(100),
  command: z.enum(CELL_COMMANDS),
  specHash: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  spec: z.object({
    command: z.enum(CELL_COMMANDS),
    cells: z.array(z.string().max(4096)),
    settings: z.record(z.string(), z.unknown()),
  }),
  shard: z
    .object({ index: z.int().min(1), count: z.int().min(1).max(MAX_SHARDS) })
    .refine((s) => s.index <= s.count, 'the shard index is larger than the count'),
  cells: z.array(z.string().max(4096)),
  startedAt: z.string().max(100),
  wallMs: z.number().min(0),
  interrupted: z.string().max(100).optional(),
  results: z.array(z.object({ cell: z.string().max(4096), result: z.unknown() })),
  context: z.record(z.string(), z.unknown()),
});

/**
 * ShardFile is one shard's mergeable result (format `kmslab-shard-result`, version 1): which kmslab ran it, the
 * run's spec and its hash, the shard and its cells, each cell's result, and what the command's merged report needs
 * besides (`context`). `interrupted` names the signal that cut the shard short: its missing results are then no
 * surprise, but the merged run fails as the single run would have.
 */
export type ShardFile = z.infer<typeof shardFileSchema>;

/** shardFile builds a shard's result file from its plan and what ran. */
export function shardFile(
  plan: ShardPlan,
  ran: {
    startedAt: number;
    results: Array<{ cell: string; result: unknown }>;
    context: Record<string, unknown>;
    interrupted?: string;
  },
): ShardFile {
  return {
    format: SHARD_FORMAT,
    formatVersion: SHARD_FORMAT_VERSION,
    kmslabVersion: plan.kmslabVersion,
    command: plan.spec.command,
    specHash: plan.specHash,
    spec: plan.spec,
    shard: plan.shard,
    cells: plan.cells.map(cellId),
    startedAt: new Date(ran.startedAt).toISOString(),
    wallMs: Date.now() - ran.startedAt,
    ...(ran.interrupted ? { interrupted: ran.interrupted } : {}),
    results: ran.results,
    context: ran.context,
  };
}

/**
 * readShardFile reads a shard result a user named. `undefined` when the file is JSON but not a shard result and
 * `lenient` is set (a directory may hold other reports); otherwise every problem is a usage error naming the file.
 */
export async function readShardFile(path: string, lenient = false): Promise<ShardFile | undefined> {
  return parseShardFile(await readShardBytes(path), path, lenient);
}

/** readShardBytes reads a file merge was given: a regular file of at most MAX_SHARD_FILE_BYTES. */
export const readShardBytes = (path: string): Promise<Buffer> =>
  readUserFile(path, { what: 'shard result', maxBytes: MAX_SHARD_FILE_BYTES });

/** parseShardFile is readShardFile on bytes already read; `path` names them in errors. */
export function parseShardFile(bytes: Buffer, path: string, lenient = false): ShardFile | undefined {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    if (lenient) return undefined;
    throw new KmslabError(
      'usage',
      `shard result ${path} is not JSON (${(error as Error).message.slice(0, 120)}), nor a log holding a framed shard result: give the file a shard wrote with --result, or the logs of a kmslab job's pods (a pod that ended before its result prints none: its log says why)`,
    );
  }
  const format = (json as { format?: unknown } | null)?.format;
  if (format !== SHARD_FORMAT) {
    if (lenient) return undefined;
    throw new KmslabError(
      'usage',
      `${path} is not a kmslab shard result (format ${format === undefined ? 'missing' : printable(JSON.stringify(format), 60)}, want "${SHARD_FORMAT}"): give the files that kmslab run/conformance/chaos --shard wrote`,
    );
  }
  const parsed = shardFileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.map(String).join('.') || '(top)';
    const version = (json as { formatVersion?: unknown }).formatVersion;
    const hint =
      version !== SHARD_FORMAT_VERSION
        ? ` — it is format version ${printable(JSON.stringify(version) ?? 'missing', 20)}; this kmslab reads version ${SHARD_FORMAT_VERSION}: merge with the kmslab that ran the shards`
        : '';
    throw new KmslabError(
      'usage',
      `shard result ${path} is damaged at ${printable(where, 80)}: ${printable(issue.message, 160)}${hint}`,
    );
  }
  return parsed.data;
}
