import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { KmsControlClient } from '../../fake-kms/index.js';
import { KmslabError } from '../common/errors.js';
import { poll } from '../common/wait.js';
import type { LabKms } from '../lab.js';
import { readLab } from '../labs/registry.js';
import type { ManagedProcess } from '../process/managed-process.js';
import { controlKms, hookedKms } from './control-kms.js';
import { ExternalPluginProcess, pluginAnswers, runHook } from './external-plugin.js';
import { checkExternalPlugin, type ExternalPlugin } from './plugin-spec.js';
import { KmsPluginProcess, type KmsPluginPaths } from './kms-plugin-process.js';
import { withCloud, type CloudRecord } from './cloud-kms.js';
import { CloudEmulatorProcess, cloudPlugin } from './cloud-side.js';
import type { CloudName } from './lab-cloud.js';

/** A process of the KMS side (the cloud emulator, the plugin, the proxy), as the lab starts, records and stops it. */
export interface KmsMember {
  readonly process: ManagedProcess | undefined;
  onSpawn: (() => Promise<void>) | undefined;
  start(timeoutMs?: number, signal?: AbortSignal): Promise<void>;
  stop(): Promise<void>;
}

/**
 * KmsSide is the KMS half of a lab: the fake KMS process, or the user's plugin (run by kmslab, or by the user) with
 * the proxy in front of it. Either way the apiserver dials `paths.socket`, and faults and the audit trail live at
 * that socket; `kms` is what scenarios drive.
 */
export interface KmsSide {
  /** In start order; stopped in reverse. */
  readonly members: KmsMember[];
  readonly kms: LabKms;
  /** The socket of the plugin behind the proxy, when there is one. */
  readonly upstream?: string;
  /** The plugin behind the proxy as the lab runs it (with a cloud: kmslab's command for that cloud, or the user's). */
  readonly plugin?: ExternalPlugin;
  /** The cloud emulator, when the lab has one (`cloud`); `cloud()` is its record once it has started. */
  readonly cloud?: () => CloudRecord | undefined;
}

/**
 * kmsSide builds the KMS side of a lab in `dir`. `afterRestart` runs after the plugin was restarted (the lab
 * re-records its processes).
 */
export async function kmsSide(
  dir: string,
  paths: KmsPluginPaths,
  plugin: ExternalPlugin | undefined,
  afterRestart: () => Promise<void>,
  cloud?: CloudName,
): Promise<KmsSide> {
  if (cloud) return cloudSide(dir, paths, plugin, afterRestart, cloud);
  if (!plugin) {
    const fake = new KmsPluginProcess(dir, paths);
    // A plugin restart is real: SIGKILL, then a new process on the same state dir.
    const kms = controlKms(fake.client, async () => {
      await fake.crash();
      await fake.start();
      await afterRestart();
    });
    return { members: [fake], kms };
  }
  checkExternalPlugin(plugin);
  let upstream = plugin.socket;
  let processOf: ExternalPluginProcess | undefined;
  if (plugin.command) {
    await mkdir(join(dir, 'plugin'), { mode: 0o700 });
    upstream = join(dir, 'plugin', 'kms.sock');
    processOf = new ExternalPluginProcess(dir, upstream, plugin.command);
  }
  const proxy = new KmsPluginProcess(dir, paths, upstream);
  const hooksLog = join(dir, 'logs', 'kms-hooks.log');
  const described = { ...plugin, socket: upstream! };
  const restart = processOf
    ? async () => {
        await processOf.crash();
        await processOf.start();
        await afterRestart();
      }
    : plugin.restartCommand
      ? async () => {
          await runHook('restart', plugin.restartCommand!, { socket: upstream! }, hooksLog);
          await poll(pluginAnswers(upstream!), {
            timeoutMs: 60_000,
            intervalMs: 250,
            what: `the plugin on ${upstream}`,
          });
        }
      : undefined;
  return {
    members: processOf ? [processOf, proxy] : [proxy],
    kms: hookedKms(proxy.client, described, hooksLog, restart),
    upstream: upstream!,
  };
}

// With a cloud, the emulator starts first, then the plugin (ours for that cloud, or the user's) and the proxy.
async function cloudSide(
  dir: string,
  paths: KmsPluginPaths,
  user: ExternalPlugin | undefined,
  afterRestart: () => Promise<void>,
  cloud: CloudName,
): Promise<KmsSide> {
  const emulator = new CloudEmulatorProcess(dir, cloud);
  const plugin = await cloudPlugin(cloud, dir, user);
  const side = await kmsSide(dir, paths, plugin, afterRestart);
  let record: CloudRecord | undefined;
  const start = emulator.start.bind(emulator);
  emulator.start = async (timeoutMs, signal) => {
    await start(timeoutMs, signal);
    record = await emulator.record(user !== undefined);
  };
  return {
    ...side,
    kms: withCloud(side.kms, () => record),
    members: [emulator, ...side.members],
    plugin,
    cloud: () => record,
  };
}

/** kmsOfRecord is the LabKms of a lab some other process started, from its record (for the CLI). */
export function kmsOfRecord(
  record: {
    dir: string;
    kms: KmsPluginPaths & { plugin?: ExternalPlugin & { socket: string }; cloud?: CloudRecord };
  },
  control: KmsControlClient,
): LabKms {
  const cannotRestart = async () => {
    throw new Error('restart the plugin with: kmslab restart kms');
  };
  const kms = record.kms.plugin
    ? hookedKms(control, record.kms.plugin, join(record.dir, 'logs', 'kms-hooks.log'), cannotRestart)
    : controlKms(control, cannotRestart);
  const cloud = record.kms.cloud;
  return cloud ? withCloud(kms, () => cloud) : kms;
}

/** KmsTarget is the KMS a command drives, with its control client (for what only the fake KMS or proxy offers). */
export interface KmsTarget {
  client: KmsControlClient;
  kms: LabKms;
  /** The lab's kubeconfig, when the target is a lab. */
  kubeconfig?: string;
}

/**
 * kmsTarget finds the KMS to drive: a standalone fake KMS on `control`, else lab `name`'s KMS as its record says (the
 * fake KMS, or hooks for an external plugin).
 */
export async function kmsTarget(o: { name: string; control?: string }): Promise<KmsTarget> {
  const noRestart = async () => undefined;
  if (o.control) {
    const c = new KmsControlClient(o.control);
    return { client: c, kms: controlKms(c, noRestart) };
  }
  const lab = await readLab(o.name);
  if (!lab)
    throw new KmslabError('not-found', `no lab named "${o.name}"; pass --control <socket> for a standalone plugin`);
  const c = new KmsControlClient(
    lab.kms.control,
    undefined,
    `the KMS of lab "${o.name}" is not running: kmslab restart kms --name ${o.name} starts it again on its state`,
  );
  return { client: c, kms: kmsOfRecord(lab, c), kubeconfig: lab.kubeconfig };
}
