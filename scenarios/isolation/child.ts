// The process that runs a user's scenario code: started by the runner (scenario-process.ts), told what to do over
// the IPC channel. Whatever the code does to this process — exit, throw from a timer, wait on a promise nobody
// settles — the runner sees it, reports it, and stops the lab, which lives in the runner's process.
import { errorClass } from '../error-class.js';
import { importScenarioFiles, shown } from '../scenario-files.js';
import { scenarioContext } from '../scenario-context.js';
import { asBuffers, messageOf, type FromChild, type ToChild, type WireError } from './protocol.js';
import { remoteLab, type LabState } from './remote-lab.js';
import { ApiError } from '../../harness/lab.js';
import { KmslabError } from '../../harness/common/errors.js';

const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
const state: LabState = { now: 0, running: [] };
const openSteps = new Map<number, string>();
let calls = 0;
let phase: 'waiting' | 'loading' | 'running' | 'ending' = 'waiting';
let importing = 'a scenario file';

const send = (message: FromChild, then?: () => void) => {
  if (process.connected) process.send!(message, undefined, {}, then);
  else then?.();
};

// The IPC channel keeps this process alive only while it waits for the runner (its first instruction, or the
// answer to a call). Otherwise the scenario's own work must: when none is left, the code waits on nothing.
const channel = process.channel as unknown as { ref(): void; unref(): void } | undefined;
const holdChannel = () => (phase === 'waiting' || pending.size > 0 ? channel?.ref() : channel?.unref());

function end(message: FromChild): void {
  if (phase === 'ending') return;
  phase = 'ending';
  channel?.ref();
  send(message, () => process.exit(0));
}

const during = () => (openSteps.size ? ` during step ${[...openSteps.values()].map((s) => `"${s}"`).join(', ')}` : '');

// Without the runner there is nobody to report to, and the lab is gone.
process.on('disconnect', () => process.exit(0));

process.on('unhandledRejection', (reason) =>
  end({ type: 'fatal', message: `an unhandled promise rejection${during()}: ${messageOf(reason)}` }),
);
process.on('uncaughtException', (error) =>
  end({ type: 'fatal', message: `an uncaught exception${during()}: ${messageOf(error)}` }),
);
process.on('beforeExit', () => {
  if (phase === 'loading') {
    end({
      type: 'load-failed',
      message: `${importing} could not be loaded: its top-level code waits on something that never settles`,
    });
  } else if (phase === 'running') {
    end({
      type: 'fatal',
      message: `the scenario's code waits${during() || ' (between steps)'} on something that can never happen: a promise nothing will settle (its process has nothing left to do)`,
    });
  }
});

process.on('message', (message: ToChild) => {
  if (message.type === 'reply') {
    state.now = message.now;
    state.running = message.running;
    const call = pending.get(message.id);
    pending.delete(message.id);
    holdChannel();
    if (!call) return;
    if (message.error) call.reject(fromWire(message.error));
    else call.resolve(asBuffers(message.value));
  } else if (message.type === 'load') void load(message.files);
  else if (message.type === 'run') void run(message);
});
holdChannel();

async function load(files: string[]): Promise<void> {
  phase = 'loading';
  holdChannel();
  try {
    const found = await importScenarioFiles(files, (file) => {
      importing = shown(file);
      send({ type: 'importing', file });
    });
    end({
      type: 'loaded',
      scenarios: found.map(({ scenario: s, file, index }) => ({
        file,
        index,
        name: s.name,
        summary: s.summary,
        proves: s.proves,
        tags: s.tags,
        needs: s.needs,
      })),
    });
  } catch (error) {
    end({ type: 'load-failed', message: messageOf(error) });
  }
}

async function run(start: Extract<ToChild, { type: 'run' }>): Promise<void> {
  phase = 'loading';
  holdChannel();
  state.now = start.lab.now;
  state.running = start.lab.apiservers.map((a) => a.running);
  let error: unknown;
  try {
    importing = shown(start.file);
    const found = (await importScenarioFiles([start.file])).find((f) => f.index === start.index);
    if (found?.scenario.name !== start.name) {
      throw new Error(`${start.file} changed while the run started: scenario "${start.name}" is no longer in it`);
    }
    phase = 'running';
    holdChannel();
    send({ type: 'started' });
    const lab = remoteLab(start.lab, state, call);
    const ctx = scenarioContext(start.params, start.namespace, lab.clock, {
      begin: async (name) => {
        const id = (await call('steps', 'begin', [name])) as number | undefined;
        if (id !== undefined) openSteps.set(id, name);
        return id;
      },
      end: async (id, outcome, evidence, stepError) => {
        openSteps.delete(id);
        return (await call('steps', 'end', [id, outcome, evidence, stepError])) as boolean;
      },
      waiting: (step, what, remainingMs) => send({ type: 'waiting', step, what, remainingMs }),
    });
    await found.scenario.run(lab, ctx);
  } catch (e) {
    error = e ?? new Error('the scenario threw undefined');
  }
  end({
    type: 'finished',
    ...(error === undefined ? {} : { error: { message: messageOf(error), class: errorClass(error) } }),
  });
}

function call(target: string, method: string, args: unknown[]): Promise<unknown> {
  const { sent, signal } = withoutSignal(args);
  return new Promise((resolve, reject) => {
    const id = ++calls;
    try {
      process.send!({ type: 'call', id, target, method, args: sent } satisfies FromChild);
    } catch (error) {
      reject(new Error(`${target}.${method}: its arguments cannot be sent to the lab (${messageOf(error)})`));
      return;
    }
    pending.set(id, { resolve, reject });
    holdChannel();
    // An aborted call stops waiting here, as a closed connection would; the lab's side runs on, and its answer is
    // dropped (a write aborted in flight may still have happened, as RequestOptions says).
    if (signal?.aborted) reject(new ApiError(0, 'the request was aborted'));
    signal?.addEventListener('abort', () => reject(new ApiError(0, 'the request was aborted')), { once: true });
  });
}

// An AbortSignal cannot cross to the lab's process: the options that carry one (RequestOptions) go without it.
function withoutSignal(args: unknown[]): { sent: unknown[]; signal?: AbortSignal } {
  let signal: AbortSignal | undefined;
  const sent = args.map((arg) => {
    if (!arg || typeof arg !== 'object' || !((arg as { signal?: unknown }).signal instanceof AbortSignal)) return arg;
    const { signal: found, ...rest } = arg as { signal: AbortSignal };
    signal = found;
    return rest;
  });
  return { sent, ...(signal ? { signal } : {}) };
}

function fromWire(wire: WireError): Error {
  if (wire.name === 'ApiError' && wire.status !== undefined)
    return new ApiError(wire.status, wire.message, wire.reason);
  if (wire.name === 'KmslabError') {
    return new KmslabError((wire.code ?? 'failed') as KmslabError['code'], wire.message);
  }
  return Object.assign(new Error(wire.message), { name: wire.name });
}
