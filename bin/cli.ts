import { CommanderError } from '@commander-js/extra-typings';
import { explainError } from './explain-error.js';
import { buildProgram } from './program.js';

const program = buildProgram();

try {
  await program.parseAsync(process.argv);
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
