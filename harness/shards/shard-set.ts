import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { KmslabError } from '../common/errors.js';
import { printable } from '../common/printable.js';
import { shardIndexes } from './shard.js';
import { parseShardFile, readShardBytes, type ShardFile } from './shard-file.js';
import { hasShardFrames, readShardLog } from './shard-log.js';
import { specHash, type RunSpec } from './shard-plan.js';

/** The most files merge reads from the directories it is given. */
const MAX_FILES = 4096;

/** ShardSet is a complete, consistent set of shard results: one run, each cell's result once, in the run's order. */
export interface ShardSet {
  kmslabVersion: string;
  spec: RunSpec;
  specHash: string;
  /** Every shard's file, by shard index. */
  shards: Array<{ path: string; file: ShardFile }>;
  /** Each cell of the spec, in order, with its result — absent when its shard was interrupted before it ran. */
  cells: Array<{ cell: string; result?: unknown; shard: number }>;
  /** The signal that cut a shard short, if one was. */
  interrupted?: string;
  /** Files in the directories that were not shard results (named so a misnamed shard is found). */
  skipped: string[];
  /** What pods' logs said besides their results: results cut short or damaged, shards that failed without one. */
  notes: string[];
}

/**
 * loadShardSet reads shard results — files, pods' logs holding framed results (shard-log.ts), or every `*.json`
 * and `*.log` below a directory that is one — and checks they make one whole run: one kmslab version, one spec,
 * every shard 1..n exactly once, each cell in the shard its hash puts it in and nowhere else, a result for every
 * cell. Anything else is refused, naming the files, shards and cells (and what the logs said about failed shards).
 */
export async function loadShardSet(paths: string[]): Promise<ShardSet> {
  if (!paths.length) throw new KmslabError('usage', 'give the shard result files (or a directory holding them)');
  const files: Array<{ path: string; file: ShardFile }> = [];
  const skipped: string[] = [];
  const notes: string[] = [];
  // A log is read for its frames; anything else is a result file (refused by name unless found in a directory).
  const take = async (path: string, lenient: boolean) => {
    const bytes = await readShardBytes(path);
    const text = bytes.toString('utf8');
    if (!text.trimStart().startsWith('{') && hasShardFrames(text)) {
      const log = readShardLog(text, path);
      notes.push(...log.notes);
      for (const r of log.results) files.push({ path: r.name, file: parseShardFile(r.bytes, r.name)! });
      return;
    }
    const file = parseShardFile(bytes, path, lenient);
    if (file) files.push({ path, file });
    else skipped.push(path);
  };
  for (const path of paths) {
    const isDir = await stat(path).then(
      (s) => s.isDirectory(),
      () => false,
    );
    if (!isDir) await take(path, false);
    else for (const found of await filesBelow(path)) await take(found, true);
  }
  if (!files.length) {
    throw new KmslabError(
      'usage',
      `no shard result in ${paths.join(', ')}${skipped.length ? ` (${skipped.length} other JSON or log file(s))` : ''}: give the files kmslab run/conformance/chaos --shard wrote, or the logs of a kmslab Indexed Job's pods${notesText(notes)}`,
    );
  }
  return checkShardSet(files, skipped, notes);
}

/** checkShardSet is loadShardSet's judgement on files already read; `notes` go into its refusal. */
export function checkShardSet(
  files: Array<{ path: string; file: ShardFile }>,
  skipped: string[] = [],
  notes: string[] = [],
): ShardSet {
  refuseMixed(
    files,
    (f) => `kmslab ${f.kmslabVersion}`,
    'different kmslab versions',
    'run every shard with one kmslab',
  );
  refuseMixed(files, (f) => f.command, 'different commands', 'merge the shards of one run');
  for (const { path, file } of files) {
    if (specHash(file.spec) !== file.specHash || file.spec.command !== file.command) {
      throw new KmslabError(
        'usage',
        `${path}: its spec does not match its spec hash: the file was edited; rerun its shard`,
      );
    }
  }
  refuseMixed(
    files,
    (f) => `spec ${f.specHash.slice(7, 19)}`,
    'different specs',
    `run every shard with the same arguments (they differ in ${specDifference(files)})`,
  );
  refuseMixed(
    files,
    (f) => `${f.shard.count} shards`,
    'runs split differently',
    'give every shard the same n in --shard i/n',
  );

  const { spec, specHash: hash, kmslabVersion, shard } = files[0]!.file;
  const count = shard.count;
  const problems: string[] = [];
  const byIndex = new Map<number, Array<{ path: string; file: ShardFile }>>();
  for (const f of files) byIndex.set(f.file.shard.index, [...(byIndex.get(f.file.shard.index) ?? []), f]);
  for (let i = 1; i <= count; i++) {
    const given = byIndex.get(i) ?? [];
    if (given.length === 0)
      problems.push(`shard ${i}/${count} is missing: rerun it (kmslab ${spec.command} … --shard ${i}/${count})`);
    if (given.length > 1)
      problems.push(`shard ${i}/${count} is given ${given.length} times: ${given.map((g) => g.path).join(', ')}`);
  }
  const owner = shardIndexes(spec.cells, count);
  const seenIn = new Map<string, string>();
  for (const { path, file } of files) {
    const name = `${path} (shard ${file.shard.index}/${count})`;
    for (const cell of file.cells) {
      if (!owner.has(cell)) problems.push(`${name} holds cell ${printable(cell, 200)}, which the run does not have`);
      else if (owner.get(cell) !== file.shard.index)
        problems.push(`${name} holds cell ${printable(cell, 200)}, which belongs to shard ${owner.get(cell)}/${count}`);
      const other = seenIn.get(cell);
      if (other && other !== path) problems.push(`cell ${printable(cell, 200)} is in both ${other} and ${path}`);
      seenIn.set(cell, path);
    }
    const mine = new Set(file.cells);
    const results = new Map<string, number>();
    for (const r of file.results) results.set(r.cell, (results.get(r.cell) ?? 0) + 1);
    for (const [cell, n] of results) {
      if (!mine.has(cell)) problems.push(`${name} has a result for cell ${printable(cell, 200)}, which is not its own`);
      if (n > 1) problems.push(`${name} has ${n} results for cell ${printable(cell, 200)}`);
    }
    const unrun = file.cells.filter((c) => !results.has(c));
    if (unrun.length && !file.interrupted)
      problems.push(
        `${name} has no result for ${unrun.length} of its cells (${printable(unrun[0]!, 200)}…) and was not interrupted`,
      );
  }
  for (const [i, given] of byIndex) {
    if (given.length !== 1) continue;
    const expected = spec.cells.filter((c) => owner.get(c) === i);
    const lacking = expected.filter((c) => !given[0]!.file.cells.includes(c));
    if (lacking.length)
      problems.push(
        `${given[0]!.path} (shard ${i}/${count}) lacks ${lacking.length} of its cells (${printable(lacking[0]!, 200)}…)`,
      );
  }
  if (problems.length) {
    const shown = problems.slice(0, 20).join('\n  ');
    throw new KmslabError(
      'usage',
      `the shard results do not make one whole run:\n  ${shown}${problems.length > 20 ? `\n  … ${problems.length - 20} more` : ''}${notesText(notes)}`,
    );
  }
  const resultOf = new Map(
    files.flatMap(({ file }) =>
      file.results.map((r) => [r.cell, { result: r.result, shard: file.shard.index }] as const),
    ),
  );
  const interrupted = files.find((f) => f.file.interrupted)?.file.interrupted;
  return {
    kmslabVersion,
    spec,
    specHash: hash,
    shards: [...files].sort((a, b) => a.file.shard.index - b.file.shard.index),
    cells: spec.cells.map((cell) => {
      const r = resultOf.get(cell);
      return r ? { cell, result: r.result, shard: r.shard } : { cell, shard: owner.get(cell)! };
    }),
    ...(interrupted ? { interrupted } : {}),
    skipped,
    notes,
  };
}

const notesText = (notes: string[]) =>
  notes.length
    ? `\nthe logs also say:\n  ${notes.slice(0, 20).join('\n  ')}${notes.length > 20 ? `\n  … ${notes.length - 20} more` : ''}`
    : '';

/** refuseMixed throws when the files disagree on `key`, naming which files say what. */
function refuseMixed(
  files: Array<{ path: string; file: ShardFile }>,
  key: (f: ShardFile) => string,
  what: string,
  todo: string,
): void {
  const groups = new Map<string, string[]>();
  for (const { path, file } of files) groups.set(key(file), [...(groups.get(key(file)) ?? []), path]);
  if (groups.size < 2) return;
  const named = [...groups].map(([k, paths]) => `${printable(k, 80)}: ${paths.join(', ')}`).join('; ');
  throw new KmslabError('usage', `the shard results come from ${what} (${named}): ${todo}`);
}

// Which parts of the spec differ between the first file and the others: the cells, or named settings.
function specDifference(files: Array<{ file: ShardFile }>): string {
  const first = files[0]!.file.spec;
  const differ = new Set<string>();
  for (const { file } of files) {
    if (JSON.stringify(file.spec.cells) !== JSON.stringify(first.cells)) differ.add('the cells they list');
    const keys = new Set([...Object.keys(first.settings), ...Object.keys(file.spec.settings)]);
    for (const k of keys)
      if (JSON.stringify(first.settings[k]) !== JSON.stringify(file.spec.settings[k])) differ.add(printable(k, 40));
  }
  return [...differ].join(', ') || 'nothing visible';
}

async function filesBelow(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const files = entries
    .filter((e) => e.isFile() && (e.name.endsWith('.json') || e.name.endsWith('.log')))
    .map((e) => join(e.parentPath, e.name))
    .sort();
  if (files.length > MAX_FILES)
    throw new KmslabError(
      'usage',
      `${dir} holds ${files.length} JSON and log files; merge reads at most ${MAX_FILES} from a directory: give the shard files`,
    );
  return files;
}
