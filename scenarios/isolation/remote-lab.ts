import { realClock } from '../../harness/common/clock.js';
import { poll } from '../../harness/common/wait.js';
import type { KmsCapability, Lab, LabApi, LabApiserver, LabClock, LabEtcd, LabKms } from '../../harness/lab.js';
import type { EtcdPage } from '../../harness/inspect/index.js';
import { API_METHODS, APISERVER_METHODS, ETCD_METHODS, KMS_METHODS, labIdentity, type LabShape } from './protocol.js';

/** Call sends one lab call to the runner's process and resolves with its answer. */
export type Call = (target: string, method: string, args: unknown[]) => Promise<unknown>;

/** LabState is what the runner's process says with every reply: its clock, and which apiservers run. */
export interface LabState {
  now: number;
  running: boolean[];
}

/**
 * remoteLab is the Lab in a scenario's own process: every operation is a call to the runner's process, which holds
 * the real lab. What a Lab answers synchronously (names, capabilities, the sim's virtual time, whether an
 * apiserver runs) comes from the start message and each reply. Closing is the runner's business.
 */
export function remoteLab(shape: LabShape, state: LabState, call: Call): Lab {
  const methods = <T>(target: string, names: readonly string[]) =>
    Object.fromEntries(names.map((name) => [name, (...args: unknown[]) => call(target, name, args)])) as T;
  const apiservers = shape.apiservers.map((a, i): LabApiserver => ({
    ...methods<Omit<LabApiserver, 'name' | 'api' | 'running'>>(`apiserver-${i}`, APISERVER_METHODS),
    name: a.name,
    api: methods<LabApi>(`apiserver-${i}-api`, API_METHODS),
    get running() {
      return state.running[i] ?? false;
    },
  }));
  const lacks = new Map(Object.entries(shape.lacks) as Array<[KmsCapability, string]>);
  const kms: LabKms = {
    ...methods<Omit<LabKms, 'capabilities' | 'lacks'>>('kms', KMS_METHODS),
    capabilities: new Set(shape.capabilities),
    lacks: (capability) => lacks.get(capability),
  };
  const etcd: LabEtcd = {
    ...methods<Omit<LabEtcd, 'scan'>>('etcd', ETCD_METHODS),
    scan: (prefix) => remoteScan(prefix, call),
  };
  const refuse = () =>
    Promise.reject(new Error('the lab belongs to the run: kmslab stops it when the scenario ends, not the scenario'));
  return {
    ...labIdentity(shape),
    api: methods<LabApi>('api', API_METHODS),
    etcd,
    kms,
    apiservers,
    // Real time is the same on both sides of the pipe: the scenario's process keeps it itself.
    clock: shape.virtualClock ? virtualClock(state, call) : realClock,
    ...(shape.canKillEtcd
      ? {
          killEtcd: async () => {
            const handle = await call('lab', 'killEtcd', []);
            return { restart: () => call('lab', 'restartEtcd', [handle]) as Promise<void> };
          },
        }
      : {}),
    collectLogs: (dir) => call('lab', 'collectLogs', [dir]) as Promise<string[]>,
    close: refuse,
    [Symbol.asyncDispose]: refuse,
  };
}

async function* remoteScan(prefix: string, call: Call): AsyncGenerator<EtcdPage> {
  const handle = await call('scan', 'open', [prefix]);
  let done = false;
  try {
    for (;;) {
      const next = (await call('scan', 'next', [handle])) as IteratorResult<EtcdPage>;
      if (next.done) {
        done = true;
        return;
      }
      yield next.value;
    }
  } finally {
    if (!done) await call('scan', 'close', [handle]);
  }
}

// The sim's time moves only where the lab is: sleeps are calls, and now is the time the last reply brought.
function virtualClock(state: LabState, call: Call): LabClock {
  let timers = 0;
  const clock: LabClock = {
    now: () => state.now,
    sleep: (ms) => call('clock', 'sleep', [ms]) as Promise<void>,
    timeout(ms) {
      const id = ++timers;
      let cancelled = false;
      const done = new Promise<void>((resolve) => {
        void (call('clock', 'timeout', [ms, id]) as Promise<boolean>).then((fired) => {
          if (fired && !cancelled) resolve();
        });
      });
      return {
        done,
        cancel: () => {
          cancelled = true;
          void call('clock', 'cancel', [id]);
        },
      };
    },
    waitFor: (check, options) => poll(check, { ...options, clock }),
  };
  return clock;
}
