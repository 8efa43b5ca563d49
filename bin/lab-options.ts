import { isUtf8 } from 'node:buffer';
import { Option, type Command } from '@commander-js/extra-typings';
import type { UserEncryption } from '../harness/kube/encryption-config-lint.js';
import type { ExternalPlugin, PluginFlags } from '../harness/kms/index.js';
import { KmslabError } from '../harness/common/errors.js';

/** The flags that put the user's KMS v2 plugin behind the proxy, on every command that starts labs. */
export function pluginOptions<C extends Command>(command: C): C {
  return command
    .option(
      '--plugin-cmd <cmd>',
      'run this KMS v2 plugin (a shell command serving on the unix socket {socket}, also in $KMSLAB_PLUGIN_SOCKET) behind the proxy instead of the fake KMS',
    )
    .option('--plugin-socket <path>', 'use the KMS v2 plugin you run on this unix socket, behind the proxy')
    .option('--restart-cmd <cmd>', 'restarts a --plugin-socket plugin (restart steps need it)')
    .option(
      '--rotate-cmd <cmd>',
      'rotates the plugin key: afterwards Status reports a new key_id ({keyId}: the old one)',
    )
    .option('--disable-cmd <cmd>', 'disables key_id {keyId} (also in $KMSLAB_KEY_ID)')
    .option('--enable-cmd <cmd>', 'enables key_id {keyId} again')
    .option('--destroy-cmd <cmd>', 'destroys key_id {keyId} for good')
    .addOption(
      new Option(
        '--cloud <cloud>',
        "put an emulated cloud KMS behind the plugin (local backend): the lab runs the emulator and kmslab's plugin for it (or your --plugin-cmd, given the emulator in its environment); kmslab cloud <verb> --name <lab> drives it",
      ).choices(['alibaba', 'aws'] as const),
    ) as C;
}

/** CloudFlag is the `--cloud` flag, on every command that takes the plugin flags. */
export interface CloudFlag {
  cloud?: 'alibaba' | 'aws';
}

export type { PluginFlags } from '../harness/kms/index.js';

/** pluginFrom turns the flags into an ExternalPlugin, or undefined for the fake KMS (loading harness/kms only now). */
export async function pluginFrom(o: PluginFlags): Promise<ExternalPlugin | undefined> {
  return (await import('../harness/kms/index.js')).externalPluginFrom(o);
}

/** The flag that runs labs with the user's own EncryptionConfiguration. */
export function encryptionConfigOption<C extends Command>(command: C): C {
  return command.option(
    '--encryption-config <file>',
    "your EncryptionConfiguration: linted first (each problem with its line), then used as is, its kms providers pointed at kmslab's plugin or proxy",
  ) as C;
}

/** The largest EncryptionConfiguration kmslab reads: one is a few KiB, even with many keys. */
export const MAX_ENCRYPTION_CONFIG_BYTES = 1024 * 1024;

/**
 * readEncryptionConfig lints the user's config: warnings are printed, errors stop the command (exit 2) with every
 * problem and its line, before any lab starts. Only a regular file of at most MAX_ENCRYPTION_CONFIG_BYTES of UTF-8
 * text is read (links followed): a device, a FIFO or a huge file is refused before it is read.
 */
export async function readEncryptionConfig(file: string | undefined): Promise<UserEncryption | undefined> {
  if (!file) return undefined;
  const { readUserFile } = await import('../harness/common/user-file.js');
  const bytes = await readUserFile(file, { what: '--encryption-config', maxBytes: MAX_ENCRYPTION_CONFIG_BYTES });
  const badLine = firstNonUtf8Line(bytes);
  if (badLine)
    throw new KmslabError(
      'usage',
      `${file}:${badLine}: error: not UTF-8 text (kube-apiserver refuses the file: invalid leading UTF-8 octet)`,
    );
  const { lintEncryptionConfig } = await import('../harness/kube/encryption-config-lint.js');
  const linted = lintEncryptionConfig(bytes.toString('utf8'));
  const lines = linted.problems.map((p) => `${file}:${p.line}: ${p.level}: ${p.message}`);
  const errors = linted.problems.filter((p) => p.level === 'error');
  if (errors.length) throw new KmslabError('usage', `${file} would not work:\n${lines.join('\n')}`);
  for (const line of lines) process.stderr.write(`${line}\n`);
  return linted;
}

// The first line (from 1) that is not valid UTF-8, or 0; a newline byte never occurs inside a UTF-8 sequence.
function firstNonUtf8Line(bytes: Buffer): number {
  if (isUtf8(bytes)) return 0;
  let line = 1;
  for (let start = 0; start <= bytes.length; line++) {
    const end = bytes.indexOf(0x0a, start);
    const stop = end === -1 ? bytes.length : end;
    if (!isUtf8(bytes.subarray(start, stop))) return line;
    start = stop + 1;
  }
  return 0;
}
