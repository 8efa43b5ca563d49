import { CommanderError } from '@commander-js/extra-typings';
import { KmslabError } from '../harness/common/errors.js';

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
  if (error instanceof KmslabError) {
    process.stderr.write(`kmslab: ${error.message}\n`);
    return error.exitCode;
  }
  process.stderr.write(`kmslab: ${(error as Error)?.stack ?? String(error)}\n`);
  return 1;
}
