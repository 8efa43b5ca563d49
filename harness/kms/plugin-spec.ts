import { isAbsolute } from 'node:path';
import { KmslabError } from '../common/errors.js';

/** The key lifecycle a user can hand kmslab as shell commands, for a plugin kmslab does not own. */
export const HOOKS = ['rotate', 'disable', 'enable', 'destroy'] as const;
export type Hook = (typeof HOOKS)[number];

/**
 * ExternalPlugin is a KMS v2 plugin that is not kmslab's: run by kmslab from a shell command (`command`, serving
 * on `{socket}`), or run by the user on a socket of their own (`socket`). Hooks are shell commands that exit 0
 * when done; `{keyId}` and `$KMSLAB_KEY_ID` carry the key_id to act on.
 */
export interface ExternalPlugin {
  command?: string;
  socket?: string;
  /** How to restart a plugin the user runs (restart steps need it); a `command` plugin is restarted by kmslab. */
  restartCommand?: string;
  hooks?: Partial<Record<Hook, string>>;
}

/** checkExternalPlugin refuses a plugin description that cannot work, saying what to give instead. */
export function checkExternalPlugin(p: ExternalPlugin): void {
  if (Boolean(p.command) === Boolean(p.socket)) {
    throw new KmslabError(
      'usage',
      'give exactly one of --plugin-cmd (kmslab runs the plugin) or --plugin-socket (you run it)',
    );
  }
  if (p.command && !p.command.includes('{socket}')) {
    throw new KmslabError(
      'usage',
      '--plugin-cmd must say where to serve: put {socket} in it (e.g. --plugin-cmd "my-plugin --listen unix://{socket}")',
    );
  }
  if (p.socket && !isAbsolute(p.socket)) {
    throw new KmslabError('usage', `--plugin-socket ${p.socket} must be an absolute path to the plugin's unix socket`);
  }
  if (p.restartCommand && p.command) {
    throw new KmslabError(
      'usage',
      '--restart-cmd is for --plugin-socket; kmslab restarts a --plugin-cmd plugin itself',
    );
  }
}

/** PluginFlags are the command-line flags that describe an external plugin (every command that starts labs has them). */
export interface PluginFlags {
  pluginCmd?: string;
  pluginSocket?: string;
  restartCmd?: string;
  rotateCmd?: string;
  disableCmd?: string;
  enableCmd?: string;
  destroyCmd?: string;
}

/** externalPluginFrom turns the flags into an ExternalPlugin, or undefined for the fake KMS; refuses what cannot work. */
export function externalPluginFrom(o: PluginFlags): ExternalPlugin | undefined {
  const hooks = {
    ...(o.rotateCmd ? { rotate: o.rotateCmd } : {}),
    ...(o.disableCmd ? { disable: o.disableCmd } : {}),
    ...(o.enableCmd ? { enable: o.enableCmd } : {}),
    ...(o.destroyCmd ? { destroy: o.destroyCmd } : {}),
  };
  if (!o.pluginCmd && !o.pluginSocket) {
    if (Object.keys(hooks).length || o.restartCmd) {
      throw new KmslabError(
        'usage',
        'hooks (--rotate-cmd, --disable-cmd, --enable-cmd, --destroy-cmd, --restart-cmd) are for an external plugin: add --plugin-cmd or --plugin-socket',
      );
    }
    return undefined;
  }
  const plugin: ExternalPlugin = {
    ...(o.pluginCmd ? { command: o.pluginCmd } : {}),
    ...(o.pluginSocket ? { socket: o.pluginSocket } : {}),
    ...(o.restartCmd ? { restartCommand: o.restartCmd } : {}),
    hooks,
  };
  checkExternalPlugin(plugin);
  return plugin;
}
