import type { EncryptionRule } from './encryption-config.js';
import { reloadEncryption, waitUntilServing } from './apiserver-waits.js';
import type { ConfigChange, LabApi, LabApiserver, StartWait } from '../lab.js';

/** How a backend acts on an apiserver it reaches only through a container runtime, not as a child process. */
export interface ApiserverControls {
  /** Start it again after halt. */
  resume(): Promise<void>;
  /** Stop it and wait until it is gone. */
  halt(): Promise<void>;
  /** Replace its process (a restart) and wait until the new one runs. */
  bounce(): Promise<void>;
  /** Write a new EncryptionConfiguration where it reads it; returns the file's `sha256:<hex>`. */
  writeEncryption(rules: EncryptionRule[]): Promise<string>;
}

/**
 * ApiOnlyApiserver is LabApiserver for the container backends (kind, compose): lifecycle through the backend's
 * controls, readiness and config reloads observed through the API, as for the local backend.
 */
export class ApiOnlyApiserver implements LabApiserver {
  readonly name = 'kube-apiserver';
  running = true;

  constructor(
    readonly api: LabApi,
    private readonly controls: ApiserverControls,
  ) {}

  async start(wait: StartWait = 'ready'): Promise<void> {
    await this.controls.resume();
    this.running = true;
    await waitUntilServing(this.api, wait, this.name);
  }

  async stop(): Promise<void> {
    await this.controls.halt();
    this.running = false;
  }

  async restart(wait: StartWait = 'ready'): Promise<void> {
    await this.controls.bounce();
    await waitUntilServing(this.api, wait, this.name);
  }

  async setEncryption(rules: EncryptionRule[], how: ConfigChange): Promise<void> {
    if (how === 'restart') {
      await this.controls.writeEncryption(rules);
      return this.restart();
    }
    await reloadEncryption(this.api, this.name, () => this.controls.writeEncryption(rules));
  }
}
