import { Command } from '@commander-js/extra-typings';
import { kmslabVersion } from '../harness/common/kmslab-version.js';

/**
 * The commands a CI job runs on every build — `inspect` and `verify` — start with only their own code loaded, not
 * the whole CLI: their start-up budget is node + 150 ms (bench/cli-startup.ts). Each entry loads one command.
 */
const SINGLE: Record<string, () => Promise<(program: Command) => void>> = {
  inspect: async () => (await import('./commands/inspect.js')).inspectCommand,
  verify: async () => (await import('./commands/verify.js')).verifyCommand,
};

/**
 * singleCommandProgram is a program holding only the command named first on the command line, when it is one of
 * those, exiting through the caller's handler as buildProgram's commands do; otherwise undefined (build them all).
 * Its help, options and actions are the full program's: the same function registers the command in both.
 */
export async function singleCommandProgram(argv: string[]): Promise<Command | undefined> {
  const load = Object.hasOwn(SINGLE, argv[2] ?? '') ? SINGLE[argv[2]!] : undefined;
  if (!load) return undefined;
  // The version too: verify writes it into its SARIF report.
  const program = new Command('kmslab').version(kmslabVersion()).exitOverride();
  (await load())(program);
  for (const c of program.commands) c.exitOverride().showHelpAfterError('(run with --help for usage)');
  return program;
}
