import { createHash } from 'node:crypto';
import type { SimApiserver, SimProvider, VirtualClock } from '../../../sim/index.js';
import { parseDuration } from '../../common/duration.js';
import { KmslabError } from '../../common/errors.js';
import { poll } from '../../common/wait.js';
import { reloadFailures, reloadOutcome } from '../../kube/reload.js';
import { encryptionConfigYaml, type EncryptionRule } from '../../kube/encryption-config.js';
import type { ConfigChange, LabApiserver, StartWait } from '../../lab.js';
import { SimApi } from './sim-api.js';
import { withTurns } from './event-loop-turns.js';

const READY_TIMEOUT = 180_000;
const RELOAD_TIMEOUT = 180_000;

/** SimMember is LabApiserver on a modelled apiserver: the same waits as the local backend, in virtual time. */
export class SimMember implements LabApiserver {
  readonly api: SimApi;

  constructor(
    readonly server: SimApiserver,
    private readonly clock: VirtualClock,
    /** Lets the event loop turn now and then while scenarios call the API (see eventLoopTurns). */
    turn: () => Promise<void> = async () => undefined,
  ) {
    this.api = withTurns(new SimApi(server), turn);
  }

  get name(): string {
    return this.server.name;
  }

  get running(): boolean {
    return this.server.running;
  }

  async start(wait: StartWait = 'ready'): Promise<void> {
    await this.server.start();
    const path = wait === 'live' ? '/livez' : '/readyz';
    try {
      await poll(async () => ((await this.server.health(path)).status === 200 ? true : undefined), {
        timeoutMs: READY_TIMEOUT,
        intervalMs: 250,
        what: `${this.name} ${path}`,
        clock: this.clock,
      });
    } catch (error) {
      throw new KmslabError('start-failed', `${this.name} is not ready: ${(error as Error).message}`);
    }
  }

  async stop(): Promise<void> {
    this.server.stop();
  }

  async restart(wait: StartWait = 'ready'): Promise<void> {
    this.server.stop();
    await this.start(wait);
  }

  async setEncryption(rules: EncryptionRule[], how: ConfigChange): Promise<void> {
    const hash = `sha256:${createHash('sha256').update(encryptionConfigYaml(rules)).digest('hex')}`;
    const failuresBefore = reloadFailures(this.server.metrics());
    this.server.stageConfig(secretsProviders(rules), hash);
    if (how === 'restart' || !this.running) {
      if (how === 'restart') await this.restart();
      return;
    }
    try {
      await poll(async () => reloadOutcome(this.server.metrics(), hash, failuresBefore, this.name), {
        timeoutMs: RELOAD_TIMEOUT,
        intervalMs: 1000,
        what: `${this.name} to load encryption config ${hash}`,
        clock: this.clock,
      });
    } catch (error) {
      throw new KmslabError('failed', (error as Error).message);
    }
  }
}

/** secretsProviders reads the providers for Secrets out of EncryptionConfiguration rules, as the model supports them. */
export function secretsProviders(rules: EncryptionRule[]): SimProvider[] {
  const rule = rules.find((r) => r.resources.some((res) => res === 'secrets' || res === '*.' || res === '*.*'));
  if (!rule) return [{ identity: {} }];
  return rule.providers.map((p) => {
    if ('identity' in p) return { identity: {} };
    if ('kms' in p)
      return {
        kms: {
          name: p.kms.name,
          ...(p.kms.timeout ? { timeoutMs: parseDuration(p.kms.timeout, { what: 'kms timeout', go: true }) } : {}),
        },
      };
    throw new KmslabError('usage', `the sim models KMS v2 and identity providers only, not ${Object.keys(p)[0]}`);
  });
}
