import type { EtcdPage } from '../../harness/inspect/index.js';
import { KMS_CAPABILITIES, type Lab } from '../../harness/lab.js';
import type { StepLog } from '../step-log.js';
import {
  API_METHODS,
  APISERVER_METHODS,
  ETCD_METHODS,
  KMS_METHODS,
  labIdentity,
  type LabShape,
  type StepEnd,
} from './protocol.js';

type Method = (...args: unknown[]) => Promise<unknown>;

/**
 * LabHost answers a scenario process's calls on the real lab, in the runner's process. Only the Lab's own
 * operations are reachable (each part has its list), plus the step log; handles (etcd scans in progress, a killed
 * etcd, timeouts) live here and die with the scenario.
 */
export class LabHost {
  private readonly targets: Record<string, Record<string, Method>>;
  private readonly scans = new Map<number, AsyncIterator<EtcdPage>>();
  private readonly killedEtcd = new Map<number, { restart(): Promise<void> }>();
  private readonly timeouts = new Map<number, () => void>();
  private handles = 0;

  constructor(
    private readonly lab: Lab,
    steps: StepLog,
  ) {
    const methods = (object: object, names: readonly string[]) =>
      Object.fromEntries(
        names.map((name) => [name, (...args: unknown[]) => (object as Record<string, Method>)[name]!(...args)]),
      );
    this.targets = {
      api: methods(lab.api, API_METHODS),
      etcd: methods(lab.etcd, ETCD_METHODS),
      kms: methods(lab.kms, KMS_METHODS),
      ...Object.fromEntries(
        lab.apiservers.flatMap((a, i) => [
          [`apiserver-${i}`, methods(a, APISERVER_METHODS)],
          [`apiserver-${i}-api`, methods(a.api, API_METHODS)],
        ]),
      ),
      steps: {
        begin: async (name) => steps.begin(String(name)),
        end: async (...end) => steps.end(...(end as StepEnd)),
      },
      scan: {
        open: async (prefix) => this.keep(this.scans, lab.etcd.scan(String(prefix))[Symbol.asyncIterator]()),
        next: async (handle) => this.scans.get(handle as number)?.next() ?? { done: true, value: undefined },
        close: async (handle) => {
          await this.scans.get(handle as number)?.return?.();
          this.scans.delete(handle as number);
        },
      },
      clock: {
        sleep: async (ms) => lab.clock.sleep(Number(ms)),
        timeout: (ms, id) => this.timeout(Number(ms), Number(id)),
        cancel: async (id) => this.timeouts.get(Number(id))?.(),
      },
      lab: {
        collectLogs: async (dir) => lab.collectLogs(String(dir)),
        killEtcd: async () => {
          if (!lab.killEtcd) throw new Error(`the ${lab.backend} backend cannot kill etcd`);
          return this.keep(this.killedEtcd, await lab.killEtcd());
        },
        restartEtcd: async (handle) => {
          const killed = this.killedEtcd.get(handle as number);
          if (!killed) throw new Error('etcd was not killed by this scenario');
          await killed.restart();
        },
      },
    };
  }

  /** shape is what the scenario's process needs to know of the lab before its first call. */
  shape(): LabShape {
    const lab = this.lab;
    return {
      ...labIdentity(lab),
      apiservers: lab.apiservers.map((a) => ({ name: a.name, running: a.running })),
      capabilities: [...lab.kms.capabilities].filter((c) => !c.startsWith('cloud-')),
      lacks: Object.fromEntries(
        KMS_CAPABILITIES.flatMap((c) => {
          // The cloud is not carried across to a scenario's own process (yet).
          const why = c.startsWith('cloud-') ? 'the cloud is offered to built-in scenarios only' : lab.kms.lacks(c);
          return why ? [[c, why]] : [];
        }),
      ),
      virtualClock: lab.backend === 'sim',
      now: lab.clock.now(),
      canKillEtcd: typeof lab.killEtcd === 'function',
    };
  }

  /** state rides on every reply: the lab's time and which apiservers run. */
  state(): { now: number; running: boolean[] } {
    return { now: this.lab.clock.now(), running: this.lab.apiservers.map((a) => a.running) };
  }

  async answer(target: string, method: string, args: unknown[]): Promise<unknown> {
    const fn = Object.hasOwn(this.targets, target) ? this.targets[target]![method] : undefined;
    if (!fn || !Object.hasOwn(this.targets[target]!, method)) {
      throw new Error(`the lab has no operation ${target}.${method}`);
    }
    return fn(...args);
  }

  /** release drops what the scenario left open (scans in progress, pending timeouts). */
  release(): void {
    for (const scan of this.scans.values()) void scan.return?.()?.catch(() => undefined);
    this.scans.clear();
    for (const cancel of this.timeouts.values()) cancel();
    this.timeouts.clear();
  }

  private keep<T>(map: Map<number, T>, value: T): number {
    const handle = ++this.handles;
    map.set(handle, value);
    return handle;
  }

  // A timeout answers true when it fires, false when the scenario cancels it.
  private timeout(ms: number, id: number): Promise<boolean> {
    const timer = this.lab.clock.timeout(ms);
    return new Promise((resolve) => {
      this.timeouts.set(id, () => {
        timer.cancel();
        resolve(false);
      });
      void timer.done.then(() => resolve(true));
    }).finally(() => this.timeouts.delete(id)) as Promise<boolean>;
  }
}
