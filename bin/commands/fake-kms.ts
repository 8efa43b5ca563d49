import { Command, Option } from '@commander-js/extra-typings';
import { KmslabError } from '../../harness/common/errors.js';
import { HEALTH_STYLES, OLD_HEALTH_STYLE_NAMES, healthStyleNamed } from '../../fake-kms/names.js';
import { say } from '../output.js';
import { positiveInt } from './lab.js';

export function fakeKmsCommands(program: Command): void {
  const fakeKms = program.command('fake-kms').description('the fake KMS v2 plugin on its own');
  fakeKms
    .command('serve')
    .description('run the fake KMS v2 plugin on a unix socket until SIGTERM or Ctrl-C')
    .requiredOption('--socket <path>', 'gRPC socket the apiserver dials (endpoint unix://<path>)')
    .option('--control <path>', 'control API socket (HTTP/JSON); default <socket dir>/control.sock')
    .option('--state-dir <dir>', 'where key state persists across restarts')
    .option('--ephemeral', 'keep key state in memory only (a restart forgets every key)')
    .option('--audit <file>', 'append the audit trail (JSONL) to this file')
    .option('--idle-seconds <n>', 'close a client connection that sends nothing for this long', positiveInt, 120)
    .addOption(
      new Option(
        '--health-style <style>',
        'what Status does once the primary key is disabled: not-ok-keep-key-id (default) or fail-rpc',
      ).choices(HEALTH_STYLES),
    )
    .addOption(
      new Option('--disabled-key-status <mode>', 'the first name of --health-style (unhealthy, error)')
        .choices([...HEALTH_STYLES, ...Object.keys(OLD_HEALTH_STYLE_NAMES)])
        .hideHelp(),
    )
    .action(async (o) => {
      if (!o.stateDir && !o.ephemeral) {
        throw new KmslabError(
          'usage',
          'give --state-dir <dir> so keys survive a restart, or --ephemeral for throwaway runs',
        );
      }
      if (o.stateDir && o.ephemeral) throw new KmslabError('usage', '--state-dir and --ephemeral exclude each other');
      if (o.healthStyle && o.disabledKeyStatus)
        throw new KmslabError('usage', '--health-style and --disabled-key-status are one option: give one');
      const style = o.healthStyle ?? (o.disabledKeyStatus ? healthStyleNamed(o.disabledKeyStatus) : undefined);
      const control = o.control ?? o.socket.replace(/[^/]*$/, 'control.sock');
      const { startFakeKms } = await import('../../fake-kms/index.js');
      const kms = await startFakeKms({
        socketPath: o.socket,
        controlSocketPath: control,
        ...(o.stateDir ? { stateDir: o.stateDir } : {}),
        ...(o.audit ? { auditFile: o.audit } : {}),
        ...(style ? { disabledKeyStatus: style } : {}),
        limits: { idleMs: o.idleSeconds * 1000 },
      });
      const status = kms.describe();
      say(
        `fake-kms serving v2.KeyManagementService on unix://${o.socket} (key_id ${status.keyId}); control API on ${control}`,
      );
      await untilStopped();
      await kms.close();
      say('fake-kms stopped');
    });
}

export function proxyCommands(program: Command): void {
  const proxy = program
    .command('proxy')
    .description('the KMS v2 proxy: faults and an audit trail in front of any KMS v2 plugin');
  proxy
    .command('serve')
    .description('serve KMS v2 on a unix socket, forwarding every call to another plugin, until SIGTERM or Ctrl-C')
    .requiredOption('--socket <path>', 'gRPC socket the apiserver dials (endpoint unix://<path>)')
    .requiredOption('--upstream <path>', 'the socket of the plugin to forward to')
    .option('--control <path>', 'control API socket (HTTP/JSON); default <socket dir>/control.sock')
    .option('--audit <file>', 'append the audit trail (JSONL) to this file')
    .option('--idle-seconds <n>', 'close a client connection that sends nothing for this long', positiveInt, 120)
    .addOption(
      new Option(
        '--health-style <style>',
        "impose a health style on the plugin's Status answers (default: its own): fail-rpc or not-ok-keep-key-id",
      ).choices(HEALTH_STYLES),
    )
    .action(async (o) => {
      const control = o.control ?? o.socket.replace(/[^/]*$/, 'control.sock');
      const { KmsProxy, UnusableSocketPaths } = await import('../../proxy/index.js');
      const kms = await KmsProxy.start({
        socketPath: o.socket,
        upstreamSocket: o.upstream,
        controlSocketPath: control,
        ...(o.audit ? { auditFile: o.audit } : {}),
        ...(o.healthStyle ? { healthStyle: o.healthStyle } : {}),
        limits: { idleMs: o.idleSeconds * 1000 },
      }).catch((error: Error) => {
        throw error instanceof UnusableSocketPaths ? new KmslabError('usage', error.message) : error;
      });
      say(
        `kms proxy serving v2.KeyManagementService on unix://${o.socket} → unix://${o.upstream}; control API on ${control}`,
      );
      await untilStopped();
      await kms.close();
      say('kms proxy stopped');
    });
}

function untilStopped(): Promise<void> {
  return new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
}
