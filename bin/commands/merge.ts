import { Command } from '@commander-js/extra-typings';
import { KmslabError } from '../../harness/common/errors.js';
import { printable } from '../../harness/common/printable.js';
import type { ShardSet } from '../../harness/shards/index.js';
import { say, writeReport } from '../output.js';

export function mergeCommand(program: Command): void {
  program
    .command('merge')
    .description(
      "merge the result files of a run's shards (kmslab run, conformance or chaos with --shard i/n) into the report one run would have made; refuses a missing, repeated or foreign shard, naming it (exit as the single run: 0 passed, 1 failed, 130 or 143 when a shard was interrupted; 2 when the shards do not make one run)",
    )
    .argument('<files...>', 'the shard result files, or directories holding them (every *.json below that is one)')
    .option('--json <file>', 'write the merged report as JSON (as the single run writes it)')
    .option('--junit <file>', 'write JUnit XML (run and conformance)')
    .option('--html <file>', 'write the timeline as one self-contained HTML page (run)')
    .action(async (paths, o) => {
      const { loadShardSet } = await import('../../harness/shards/index.js');
      const set = await loadShardSet(paths);
      for (const f of set.skipped) say(`skipped ${f}: JSON, but not a shard result`);
      const { command } = set.spec;
      if (o.html && command !== 'run')
        throw new KmslabError('usage', `--html draws a run's timeline; these are ${command} shards (use --json)`);
      if (o.junit && command === 'chaos')
        throw new KmslabError('usage', '--junit is for run and conformance shards; chaos seeds merge to --json');
      say(
        `▸ merging ${set.shards.length} shard(s) of kmslab ${command}: ${set.spec.cells.length} cells, spec ${set.specHash.slice(7, 19)}, kmslab ${printable(set.kmslabVersion, 40)}${set.interrupted ? `; a shard was interrupted (${printable(set.interrupted, 20)})` : ''}`,
      );
      const signalExit = set.interrupted === 'SIGTERM' ? 143 : 130;
      if (command === 'run') {
        const { mergeRunReports, renderConsole, runHtml, runShardContextOf, scenarioResultOf, toJUnit } =
          await import('../../scenarios/index.js');
        const report = mergeRunReports(
          cellResults(set, scenarioResultOf),
          set.shards.map(({ path, file }) => fromShard(path, 'context', () => runShardContextOf(file.context))),
          Boolean(set.interrupted),
        );
        console.log(`\n${shown(renderConsole(report))}`);
        if (o.json) await writeReport(o.json, JSON.stringify(report, null, 2));
        if (o.junit) await writeReport(o.junit, toJUnit(report));
        if (o.html) await writeReport(o.html, runHtml(report));
        process.exitCode = set.interrupted ? signalExit : report.outcome === 'passed' ? 0 : 1;
      } else if (command === 'conformance') {
        const { conformanceCellOf, conformanceContextOf, conformanceJUnit, mergeConformance, renderConformance } =
          await import('../../conformance/index.js');
        const report = mergeConformance(
          cellResults(set, conformanceCellOf),
          set.shards.map(({ path, file }) => fromShard(path, 'context', () => conformanceContextOf(file.context))),
          Boolean(set.interrupted),
        );
        console.log(`\n${shown(renderConformance(report))}`);
        if (o.json) await writeReport(o.json, JSON.stringify(report, null, 2));
        if (o.junit) await writeReport(o.junit, conformanceJUnit(report));
        process.exitCode = set.interrupted ? 130 : report.outcome === 'passed' ? 0 : 1;
      } else {
        const { chaosSeedOf, chaosSeedsReport, renderChaosSeeds } = await import('../../chaos/index.js');
        const { seedOfCellId } = await import('../../harness/shards/index.js');
        const backend = String(set.shards[0]!.file.context.backend ?? 'unknown');
        const report = chaosSeedsReport(backend, set.spec.cells.map(seedOfCellId), cellResults(set, chaosSeedOf));
        console.log(`\n${shown(renderChaosSeeds(report))}`);
        if (o.json) await writeReport(o.json, JSON.stringify(report, null, 2));
        process.exitCode = set.interrupted ? 130 : report.outcome === 'passed' ? 0 : 1;
      }
    });
}

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
