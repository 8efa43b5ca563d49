import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildGoTool, goTools } from '../../binaries/go-tools.js';
import { KmslabError } from '../../common/errors.js';
import { ManagedProcess } from '../../process/managed-process.js';
import { LAB_CONTROLLERS, type LabController } from '../../lab.js';

/**
 * controllersWith adds what a controller needs to run: the storage version migrator needs the garbage collector's
 * graph of resources (upstream refuses to start it without).
 */
export function controllersWith(wanted: readonly LabController[]): LabController[] {
  const set = new Set<LabController>(wanted);
  if (set.has('storage-version-migrator-controller')) set.add('garbage-collector-controller');
  return LAB_CONTROLLERS.filter((c) => set.has(c));
}

/**
 * ControllerManagerMember is an optional kube-controller-manager running only the controllers a lab asked for,
 * as the lab's admin, with no serving port; it is built from the same Kubernetes version as the apiserver.
 */
export class ControllerManagerMember {
  process: ManagedProcess | undefined;
  onSpawn: (() => Promise<void>) | undefined;
  readonly logFile: string;

  private constructor(
    readonly binary: string,
    readonly kubeconfig: string,
    readonly controllers: LabController[],
    labDir: string,
  ) {
    this.logFile = join(labDir, 'logs', 'kube-controller-manager.log');
  }

  /** create finds (or builds, once per machine) kube-controller-manager for the pinned Kubernetes version. */
  static async create(
    labDir: string,
    kubeconfig: string,
    controllers: readonly LabController[],
    k8sVersion?: string,
  ): Promise<ControllerManagerMember> {
    if (k8sVersion && k8sVersion !== goTools.kubeNode.version) {
      throw new KmslabError(
        'usage',
        `kube-controller-manager is built for ${goTools.kubeNode.version} only; a lab on ${k8sVersion} cannot run it`,
      );
    }
    const { dir } = await buildGoTool(goTools.kubeNode);
    return new ControllerManagerMember(
      join(dir, 'kube-controller-manager'),
      kubeconfig,
      controllersWith(controllers),
      labDir,
    );
  }

  /** start runs it and waits until each asked-for controller says it started. */
  async start(timeoutMs = 60_000, signal?: AbortSignal): Promise<void> {
    this.process = await ManagedProcess.spawn({
      name: 'kube-controller-manager',
      command: this.binary,
      logFile: this.logFile,
      args: [
        `--kubeconfig=${this.kubeconfig}`,
        `--controllers=${this.controllers.join(',')}`,
        '--leader-elect=false',
        '--secure-port=0',
        '--v=2',
      ],
    });
    await this.onSpawn?.();
    await this.process.waitUntil(
      async () => {
        const log = await readFile(this.logFile, 'utf8');
        return this.controllers.every((c) => log.includes(`"Controller starting..." controller="${c}"`)) || undefined;
      },
      {
        timeoutMs,
        intervalMs: 250,
        what: `kube-controller-manager to start ${this.controllers.join(', ')}`,
        ...(signal ? { signal } : {}),
      },
    );
  }

  async stop(): Promise<void> {
    await this.process?.stop();
  }
}
