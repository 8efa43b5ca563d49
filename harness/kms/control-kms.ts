import { KmsControlClient, type FaultSpec } from '../../fake-kms/index.js';
import type { ProxyStatus } from '../../proxy/index.js';
import { KmslabError } from '../common/errors.js';
import { poll } from '../common/wait.js';
import { KMS_CAPABILITIES, type KmsCapability, type LabKms, type LabKmsStatus } from '../lab.js';
import { runHook } from './external-plugin.js';
import { CLOUD_CAPABILITIES, NO_CLOUD, type CloudCapability } from './lab-cloud.js';
import type { ExternalPlugin, Hook } from './plugin-spec.js';

/** controlKms is LabKms over a fake KMS's control socket: it can do everything; `restart` is the backend's way. */
export function controlKms(c: KmsControlClient, restart: () => Promise<void>): LabKms {
  return {
    ...common(c),
    capabilities: new Set(KMS_CAPABILITIES.filter((cap) => !isCloud(cap))),
    lacks: (cap) => (isCloud(cap) ? NO_CLOUD : undefined),
    status: () => c.status(),
    rotate: (key) => c.rotate(key),
    disable: (id) => c.disable(id),
    enable: (id) => c.enable(id),
    destroy: (id) => c.destroy(id),
    setDisabledKeyStatus: async (mode) => {
      await c.setDisabledKeyStatus(mode);
    },
    restart,
  };
}

const NEEDS: Record<KmsCapability, string> = {
  rotate: 'needs --rotate-cmd',
  disable: 'needs --disable-cmd',
  enable: 'needs --enable-cmd',
  destroy: 'needs --destroy-cmd',
  restart: 'needs --restart-cmd (kmslab restarts a --plugin-cmd plugin itself)',
  // Never missing: the fake KMS sets it, and the proxy in front of an external plugin imposes it.
  'disabled-key-status': 'the health style is set on the fake KMS or imposed by the proxy',
  ...(Object.fromEntries(CLOUD_CAPABILITIES.map((cap) => [cap, NO_CLOUD])) as Record<CloudCapability, string>),
};

const isCloud = (cap: KmsCapability): cap is CloudCapability => (CLOUD_CAPABILITIES as readonly string[]).includes(cap);

/** externalLacks says what an external plugin's KMS side cannot do, given what the user handed kmslab. */
export function externalLacks(plugin: ExternalPlugin): (capability: KmsCapability) => string | undefined {
  return (cap) => {
    const has =
      cap === 'restart'
        ? Boolean(plugin.command || plugin.restartCommand)
        : cap === 'disabled-key-status' || (!isCloud(cap) && Boolean(plugin.hooks?.[cap as Hook]));
    return has ? undefined : NEEDS[cap];
  };
}

/**
 * hookedKms is LabKms for an external plugin behind the proxy: faults, audit and the socket through the proxy's
 * control socket, key lifecycle through the user's hooks. A rotation is done when the plugin's Status reports a
 * key_id other than before.
 */
export function hookedKms(
  c: KmsControlClient,
  plugin: ExternalPlugin & { socket: string },
  hooksLog: string,
  restart?: () => Promise<void>,
): LabKms {
  const lacksAny = externalLacks(plugin);
  const lacks = (cap: KmsCapability) => (cap === 'restart' && !restart ? NEEDS.restart : lacksAny(cap));
  const capabilities = new Set(KMS_CAPABILITIES.filter((cap) => !lacks(cap)));
  const need = (cap: KmsCapability) => {
    const why = lacks(cap);
    if (why) throw new KmslabError('usage', `this lab's plugin cannot ${cap}: ${why}`);
  };
  const status = async (): Promise<LabKmsStatus> => {
    const s = (await c.status()) as unknown as ProxyStatus;
    return { keyId: s.keyId, listening: s.listening, faults: s.faults, calls: s.calls };
  };
  const hook = async (name: Hook, keyId?: string) => {
    need(name);
    await runHook(name, plugin.hooks![name]!, { socket: plugin.socket, ...(keyId ? { keyId } : {}) }, hooksLog);
  };
  const lifecycle = (name: Hook, state: string) => async (keyId: string) => {
    await hook(name, keyId);
    return { keyId, state: state as never };
  };
  return {
    ...common(c),
    capabilities,
    lacks,
    status,
    async rotate() {
      const before = (await status()).keyId;
      await hook('rotate', before);
      const keyId = await poll(
        async () => {
          const now = (await status()).keyId;
          return now && now !== before ? now : undefined;
        },
        {
          timeoutMs: 60_000,
          intervalMs: 500,
          what: `the plugin to report a key_id other than ${before} after the rotate hook`,
        },
      );
      return { keyId };
    },
    disable: lifecycle('disable', 'disabled'),
    enable: lifecycle('enable', 'enabled'),
    destroy: lifecycle('destroy', 'destroyed'),
    // The proxy imposes the style on the plugin's Status answers (proxy/imposed-health-style.ts).
    setDisabledKeyStatus: async (mode) => {
      await c.setDisabledKeyStatus(mode);
    },
    restart: async () => {
      need('restart');
      await restart!();
    },
  };
}

// What every lab's KMS has, on a control socket: faults, the socket, the audit trail.
function common(c: KmsControlClient) {
  return {
    addFault: (spec: FaultSpec) => c.addFault(spec),
    clearFaults: async (id?: string) => {
      await c.clearFaults(id);
    },
    stopPlugin: async () => {
      await c.stopPlugin();
    },
    startPlugin: async () => {
      await c.startPlugin();
    },
    audit: (query?: Parameters<KmsControlClient['audit']>[0]) => c.audit(query),
  };
}
