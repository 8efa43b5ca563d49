import { Command, CommanderError } from '@commander-js/extra-typings';
import { KmslabError } from '../harness/common/errors.js';
import { buildCommand } from './commands/build.js';
import { fakeKmsCommands } from './commands/fake-kms.js';
import { inspectCommand } from './commands/inspect.js';
import { kmsCommands } from './commands/kms.js';
import { labCommands } from './commands/lab.js';

const program = new Command('kmslab')
  .description('Prove what Kubernetes KMS v2 encryption at rest does, on a real kube-apiserver and etcd.')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

labCommands(program);
fakeKmsCommands(program);
inspectCommand(program);
buildCommand(program);
kmsCommands(program);
// Every (sub)command exits through our handler, so usage mistakes anywhere exit 2.
const override = (c: Command) => {
  c.exitOverride().showHelpAfterError('(run with --help for usage)');
  c.commands.forEach((s) => override(s as unknown as Command));
};
program.commands.forEach((c) => override(c as unknown as Command));

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
