import { describe, expect, test } from 'vitest';
import { realClock } from '../harness/common/clock.js';
import { ApiError, type Lab, type LabApi, type RequestOptions } from '../harness/lab.js';
import { seededRandom } from '../sim/index.js';
import type { Operation } from './history/index.js';
import { runWorkload, type WorkloadOptions } from './workload.js';

describe('the workload aborts a request at its deadline', () => {
  // An apiserver that never answers: a request ends only when its signal aborts it.
  const hangingApi = (seen: AbortSignal[]): LabApi => {
    const hang = (options?: RequestOptions) =>
      new Promise<never>((_, reject) => {
        seen.push(options!.signal!);
        options!.signal!.addEventListener('abort', () => reject(new ApiError(0, 'aborted')));
      });
    const api: Pick<LabApi, 'createSecret' | 'readSecret' | 'updateSecret' | 'deleteSecret'> = {
      createSecret: (_r, _d, o) => hang(o),
      readSecret: (_r, o) => hang(o),
      updateSecret: (_r, _d, o) => hang(o),
      deleteSecret: (_r, o) => hang(o),
    };
    return api as LabApi;
  };

  // One client on one hanging apiserver; returns the history and the signal each request got.
  const run = async (o: Pick<WorkloadOptions, 'coldKeys' | 'opTimeoutMs' | 'done'> & { signal?: AbortSignal }) => {
    const signals: AbortSignal[] = [];
    const lab = {
      clock: realClock,
      apiservers: [{ name: 'a0', running: true, api: hangingApi(signals) }],
    } as unknown as Lab;
    const history: Operation[] = [];
    await runWorkload(lab, {
      namespace: 'ns',
      clients: 1,
      keysPerClient: 1,
      random: seededRandom('w'),
      thinkMs: 1,
      history,
      ...o,
    });
    return { history, signals };
  };

  test('each request gets a signal that aborts it at the deadline; writes are then info, never fail', async () => {
    const started = Date.now();
    const { history, signals } = await run({
      coldKeys: 1,
      opTimeoutMs: 50,
      done: () => Date.now() - started > 150,
    });
    expect(history.length).toBeGreaterThanOrEqual(2);
    expect(signals).toHaveLength(history.length);
    expect(signals.every((s) => s.aborted)).toBe(true);
    for (const op of history) {
      expect(op).toMatchObject({ type: 'info', error: 'timeout' });
      expect(op.end - op.start).toBeLessThan(1_000);
    }
  });

  test('Ctrl-C aborts the requests in flight at once', async () => {
    const interrupt = new AbortController();
    setTimeout(() => interrupt.abort(), 30);
    const started = Date.now();
    const { history } = await run({
      coldKeys: 0,
      opTimeoutMs: 60_000,
      done: () => interrupt.signal.aborted,
      signal: interrupt.signal,
    });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(history).toMatchObject([{ f: 'create', type: 'info' }]);
  });
});
