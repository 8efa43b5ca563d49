import { Command } from '@commander-js/extra-typings';
import { printJson, say } from '../output.js';

// The engine code (execa, apt, dockerd) loads only when an engine command runs, not on every CLI start.
const engineModule = () => import('../../harness/engine/index.js');

export function engineCommands(program: Command): void {
  const engine = program
    .command('engine')
    .description('the container engine the kind and compose backends use (Docker): start one where none runs');
  engine
    .command('start')
    .description(
      'make `docker info` answer: start a dockerd (installing Debian docker.io first if needed) with what kind nodes need here',
    )
    .option('--json', 'print the engine status as JSON')
    .action(async (o) => {
      const started = Date.now();
      const status = await (await engineModule()).startEngine(say);
      if (o.json) printJson(status);
      else say(`✓ docker ${status.serverVersion} answers (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    });
  engine
    .command('stop')
    .description('stop the dockerd `kmslab engine start` started (and its containers); never another engine')
    .action(async () => {
      if (await (await engineModule()).stopEngine(say)) say('✓ stopped');
    });
  engine
    .command('status')
    .description('does an engine answer, did kmslab start it, is the runtime wrapper registered')
    .option('--json', 'print as JSON')
    .action(async (o) => {
      const s = await (await engineModule()).engineStatus();
      if (o.json) printJson(s);
      else {
        console.log(
          s.answering
            ? `docker ${s.serverVersion} answers; ${s.startedByKmslab ? `started by kmslab (dockerd pid ${s.record!.dockerd.pid}, log ${s.record!.log})` : 'not started by kmslab'}; runtimes: ${s.runtimes.join(', ')}`
            : 'no engine answers `docker info`; start one with: kmslab engine start',
        );
      }
      if (!s.answering) process.exitCode = 1;
    });
}
