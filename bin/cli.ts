import { CommanderError } from '@commander-js/extra-typings';
import { explainError } from './explain-error.js';
import { singleCommandProgram } from './single-command.js';

// `inspect` and `verify` load only themselves (their start-up budget); everything else builds the whole CLI.
const program = (await singleCommandProgram(process.argv)) ?? (await import('./program.js')).buildProgram();

// Until the command finishes, the exit code says it did not: if Node ran out of things to wait on in the middle of
// a command (a bug: a promise nobody will ever settle), it must not exit 0 as if everything had passed.
const UNFINISHED = 70;
process.exitCode = UNFINISHED;
process.once('exit', (code) => {
  if (code === UNFINISHED) process.stderr.write('kmslab: stopped before the command finished (a kmslab bug)\n');
});
try {
  await program.parseAsync(process.argv);
  if (process.exitCode === UNFINISHED) process.exitCode = 0;
} catch (error) {
  process.exit(exitCodeFor(error));
}

// Usage mistakes exit 2 (as commander's own do), failures 1; help and version exit 0.
function exitCodeFor(error: unknown): number {
  if (error instanceof CommanderError) {
    return error.code === 'commander.helpDisplayed' ||
      error.code === 'commander.version' ||
      error.code === 'commander.help'
      ? 0
      : 2;
  }
  const { message, exitCode } = explainError(error);
  process.stderr.write(`kmslab: ${message}\n`);
  return exitCode;
}
