import { Command } from '@commander-js/extra-typings';
import { kmslabVersion } from '../harness/common/kmslab-version.js';
import { buildCommand } from './commands/build.js';
import { chaosCommand } from './commands/chaos.js';
import { cloudCommands } from './commands/cloud.js';
import { conformanceCommand } from './commands/conformance.js';
import { fakeKmsCommands, proxyCommands } from './commands/fake-kms.js';
import { fleetCommand } from './commands/fleet.js';
import { engineCommands } from './commands/engine.js';
import { inspectCommand } from './commands/inspect.js';
import { verifyCommand } from './commands/verify.js';
import { kindCommands } from './commands/kind.js';
import { kmsCommands } from './commands/kms.js';
import { labCommands } from './commands/lab.js';
import { jobCommands } from './commands/job.js';
import { mergeCommand } from './commands/merge.js';
import { runCommands } from './commands/run.js';

/** buildProgram assembles the kmslab CLI; every (sub)command exits through the caller's handler. */
export function buildProgram(): Command {
  const program = new Command('kmslab')
    .description('Prove what Kubernetes KMS v2 encryption at rest does, on a real kube-apiserver and etcd.')
    .version(kmslabVersion(), '-V, --version', 'print the kmslab version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  labCommands(program);
  fakeKmsCommands(program);
  proxyCommands(program);
  inspectCommand(program);
  verifyCommand(program);
  buildCommand(program);
  kmsCommands(program);
  runCommands(program);
  conformanceCommand(program);
  chaosCommand(program);
  mergeCommand(program);
  jobCommands(program);
  kindCommands(program);
  fleetCommand(program);
  engineCommands(program);
  cloudCommands(program);
  // Every (sub)command exits through our handler, so usage mistakes anywhere exit 2.
  const override = (c: Command) => {
    c.exitOverride().showHelpAfterError('(run with --help for usage)');
    c.commands.forEach((s) => override(s as unknown as Command));
  };
  program.commands.forEach((c) => override(c as unknown as Command));
  return program;
}
