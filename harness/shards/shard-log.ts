import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { printable } from '../common/printable.js';
import { MAX_SHARD_FILE_BYTES } from './shard-file.js';
import type { Shard } from './shard.js';

/**
 * The word every framed line carries. merge finds frames by it wherever it stands in a line, so the prefix
 * `kubectl logs --prefix` puts before each line (`[pod/<name>/<container>] `) does no harm, and names the pod.
 */
export const SHARD_LOG_MARK = 'kmslab-shard-result';

/** Base64 characters per framed line: far below the 16 KiB at which container runtimes split a log line. */
const LINE_CHARS = 1000;

/**
 * frameShardResult turns a shard's result file into log lines: a `begin` line (shard, an id, the line count and
 * the SHA-256 of the file), the gzipped file in base64 on numbered `data` lines, an `end` line. A pod prints them
 * when its shard is done, so the result travels in the pod's log, which every cluster keeps and `kubectl logs` reads.
 */
export function frameShardResult(result: Buffer, shard: Shard): string[] {
  const digest = createHash('sha256').update(result).digest('hex');
  const id = digest.slice(0, 12);
  const base64 = gzipSync(result).toString('base64');
  const chunks = Array.from({ length: Math.ceil(base64.length / LINE_CHARS) }, (_, i) =>
    base64.slice(i * LINE_CHARS, (i + 1) * LINE_CHARS),
  );
  return [
    `${SHARD_LOG_MARK} begin ${shard.index}/${shard.count} ${id} ${chunks.length} sha256:${digest}`,
    ...chunks.map((chunk, i) => `${SHARD_LOG_MARK} data ${id} ${i + 1} ${chunk}`),
    `${SHARD_LOG_MARK} end ${id}`,
  ];
}

/** failedShardLine says in the log that a shard ended without a result file, and how its kmslab ended. */
export const failedShardLine = (shard: Shard, how: string): string =>
  `${SHARD_LOG_MARK} failed ${shard.index}/${shard.count} ${how}`;

/** hasShardFrames tells a log that holds framed shard results (or failures) from any other file. */
export const hasShardFrames = (text: string): boolean => new RegExp(`${SHARD_LOG_MARK} (begin|failed) `).test(text);

/** ShardLog is what a log held: each complete result (as its file's bytes), and what was wrong or failed. */
export interface ShardLog {
  /** `name` says where the result was: the log, its line and the pod when kubectl prefixed it. */
  results: Array<{ name: string; bytes: Buffer }>;
  /** Incomplete or damaged results, and shards whose pod said it failed before writing one. */
  notes: string[];
}

interface Frame {
  where: string;
  shard: string;
  id: string;
  count: number;
  digest: string;
  chunks: Map<number, string>;
  ended: boolean;
}

/**
 * readShardLog finds the framed results in a log (one pod's, or many pods' one after another as `kubectl logs -l`
 * prints them) and checks each: every line there, the bytes' SHA-256 as announced. A result that fails is a note,
 * never a result, so a cut log shows up as a missing shard.
 */
export function readShardLog(text: string, source: string): ShardLog {
  const frames: Frame[] = [];
  const open = new Map<string, Frame>();
  const notes: string[] = [];
  // Where data lines of a result whose begin line is not in the log were seen: a log cut at its start.
  const orphans = new Map<string, string>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    const at = line.indexOf(`${SHARD_LOG_MARK} `);
    if (at < 0) return;
    const pod = line.slice(0, at).trim();
    const where = `${source}:${i + 1}${pod ? ` ${printable(pod, 120)}` : ''}`;
    const [kind, ...rest] = line
      .slice(at + SHARD_LOG_MARK.length + 1)
      .trim()
      .split(/ +/);
    if (kind === 'begin') {
      const [shard = '', id = '', count = '', digest = ''] = rest;
      const frame = { where, shard, id, count: Number(count), digest, chunks: new Map(), ended: false };
      frames.push(frame);
      open.set(id, frame);
    } else if (kind === 'data') {
      const [id = '', seq = '', chunk = ''] = rest;
      const frame = open.get(id);
      if (frame) frame.chunks.set(Number(seq), chunk);
      else if (!orphans.has(id)) orphans.set(id, where);
    } else if (kind === 'end') {
      const frame = open.get(rest[0] ?? '');
      if (frame) frame.ended = true;
      open.delete(rest[0] ?? '');
    } else if (kind === 'failed') {
      notes.push(
        `${where}: shard ${printable(rest[0] ?? '?', 20)} failed before writing its result (${printable(rest.slice(1).join(' '), 80)}): the pod's log above that line says why`,
      );
    }
  });
  for (const where of orphans.values())
    notes.push(`${where}: part of a shard result whose begin line is not in the log: ${CUT}`);
  const results: ShardLog['results'] = [];
  for (const frame of frames) {
    const read = readFrame(frame);
    if (typeof read === 'string')
      notes.push(`${frame.where}: the result of shard ${printable(frame.shard, 20)} ${read}`);
    else results.push({ name: frame.where, bytes: read });
  }
  return { results, notes };
}

const CUT =
  "a log cut short (read it whole: kubectl logs with a selector shows 10 lines unless --tail=-1; the kubelet keeps at most containerLogMaxSize of a pod's log)";

// A frame's file, or why it cannot be read.
function readFrame(frame: Frame): Buffer | string {
  if (!Number.isSafeInteger(frame.count) || frame.count < 1 || !/^sha256:[0-9a-f]{64}$/.test(frame.digest))
    return 'has a damaged begin line';
  const lacking = Array.from({ length: frame.count }, (_, i) => i + 1).filter((n) => !frame.chunks.has(n));
  if (lacking.length || !frame.ended)
    return `is incomplete: ${frame.count - lacking.length} of its ${frame.count} lines${frame.ended ? '' : ' and no end line'}: ${CUT}`;
  const base64 = Array.from({ length: frame.count }, (_, i) => frame.chunks.get(i + 1)!).join('');
  let bytes: Buffer;
  try {
    bytes = gunzipSync(Buffer.from(base64, 'base64'), { maxOutputLength: MAX_SHARD_FILE_BYTES });
  } catch (error) {
    return `does not unpack (${printable((error as Error).message, 80)})`;
  }
  const digest = createHash('sha256').update(bytes).digest('hex');
  if (`sha256:${digest}` !== frame.digest) return 'is damaged: its SHA-256 differs from the one its begin line gives';
  return bytes;
}
