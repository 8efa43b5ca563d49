import { Command } from '@commander-js/extra-typings';
import { KmslabError } from '../../harness/common/errors.js';
import { printable } from '../../harness/common/printable.js';
import type { CellCommand, ShardSet } from '../../harness/shards/index.js';
import { say, writeReport } from '../output.js';

export function mergeCommand(program: Command): void {
  program
    .command('merge')
    .description(
      "merge the result files of a run's shards (kmslab run, conformance or chaos with --shard i/n) into the report one run would have made; refuses a missing, repeated or foreign shard, naming it (exit as the single run: 0 passed, 1 failed, 130 or 143 when a shard was interrupted; 2 when the shards do not make one run)",
    )
    .argument(
      '<files...>',
      "the shard result files, pods' logs holding them (kubectl logs of a kmslab job's pods, --tail=-1), or directories holding either (every *.json and *.log below)",
    )
    .option('--json <file>', 'write the merged report as JSON (as the single run writes it)')
    .option('--junit <file>', 'write JUnit XML (run and conformance)')
    .option('--html <file>', 'write the timeline as one self-contained HTML page (run)')
    .action(async (paths, o) => {
      const { loadShardSet } = await import('../../harness/shards/index.js');
      const set = await loadShardSet(paths);
      for (const f of set.skipped) say(`skipped ${f}: not a shard result, nor a log holding one`);
      for (const note of set.notes) say(`note: ${note}`);
      const { command } = set.spec;
      say(
        `▸ merging ${set.shards.length} shard(s) of kmslab ${command}: ${set.spec.cells.length} cells, spec ${set.specHash.slice(7, 19)}, kmslab ${printable(set.kmslabVersion, 40)}${set.interrupted ? `; a shard was interrupted (${printable(set.interrupted, 20)})` : ''}`,
      );
      const merged = await MERGERS[command](set);
      for (const kind of ['junit', 'html'] as const)
        if (o[kind] && !merged.render[kind])
          throw new KmslabError('usage', `--${kind} is not made for ${command} shards; write --json`);
      console.log(`\n${shown(merged.summary)}`);
      for (const kind of ['json', 'junit', 'html'] as const) {
        const file = o[kind];
        const render = merged.render[kind];
        if (file && render) await writeReport(file, render());
      }
      // As the single run exits: run tells SIGTERM (143) from Ctrl-C (130); conformance and chaos say 130.
      const cut = command === 'run' && set.interrupted === 'SIGTERM' ? 143 : 130;
      process.exitCode = set.interrupted ? cut : merged.passed ? 0 : 1;
    });
}

/** What a command's merged report offers: its summary, whether it passed, and the files it can be written as. */
interface Merged {
  summary: string;
  passed: boolean;
  render: Partial<Record<'json' | 'junit' | 'html', () => string>>;
}

const MERGERS: Record<CellCommand, (set: ShardSet) => Promise<Merged>> = {
  run: async (set) => {
    const { mergeRunReports, renderConsole, runHtml, runShardContextOf, scenarioResultOf, toJUnit } =
      await import('../../scenarios/index.js');
    const report = mergeRunReports(
      cellResults(set, scenarioResultOf),
      contexts(set, runShardContextOf),
      Boolean(set.interrupted),
    );
    return {
      summary: renderConsole(report),
      passed: report.outcome === 'passed',
      render: {
        json: () => JSON.stringify(report, null, 2),
        junit: () => toJUnit(report),
        html: () => runHtml(report),
      },
    };
  },
  conformance: async (set) => {
    const { conformanceCellOf, conformanceContextOf, conformanceJUnit, mergeConformance, renderConformance } =
      await import('../../conformance/index.js');
    const report = mergeConformance(
      cellResults(set, conformanceCellOf),
      contexts(set, conformanceContextOf),
      Boolean(set.interrupted),
    );
    return {
      summary: renderConformance(report),
      passed: report.outcome === 'passed',
      render: { json: () => JSON.stringify(report, null, 2), junit: () => conformanceJUnit(report) },
    };
  },
  chaos: async (set) => {
    const { chaosSeedOf, chaosSeedsReport, renderChaosSeeds } = await import('../../chaos/index.js');
    const { seedOfCellId } = await import('../../harness/shards/index.js');
    const backend = String(set.shards[0]!.file.context.backend ?? 'unknown');
    const report = chaosSeedsReport(backend, set.spec.cells.map(seedOfCellId), cellResults(set, chaosSeedOf));
    return {
      summary: renderChaosSeeds(report),
      passed: report.outcome === 'passed',
      render: { json: () => JSON.stringify(report, null, 2) },
    };
  },
};

/** contexts reads what each shard keeps besides its cells; a damaged one is a usage error naming the file. */
const contexts = <T>(set: ShardSet, read: (value: unknown) => T): T[] =>
  set.shards.map(({ path, file }) => fromShard(path, 'context', () => read(file.context)));

/** cellResults reads each cell's result in the run's order; a damaged one is a usage error naming file and cell. */
function cellResults<T>(set: ShardSet, read: (value: unknown) => T): Array<T | undefined> {
  return set.cells.map((c) =>
    c.result === undefined
      ? undefined
      : fromShard(set.shards[c.shard - 1]!.path, `cell ${printable(c.cell, 200)}`, () => read(c.result)),
  );
}

// Every word of the summary came from files: each line is printed escaped, so no file can drive the terminal.
const shown = (text: string) =>
  text
    .split('\n')
    .map((line) => printable(line))
    .join('\n');

function fromShard<T>(path: string, what: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    throw new KmslabError('usage', `${path}, ${what}: ${printable((error as Error).message, 300)}`);
  }
}
