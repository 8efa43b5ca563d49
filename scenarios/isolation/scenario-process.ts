import { fork, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { KmslabError } from '../../harness/common/errors.js';
import type { RunEvent, Scenario, ScenarioParams, StepRecord } from '../model.js';
import { shown } from '../scenario-files.js';
import type { LabHost } from './lab-host.js';
import { toWire, type FromChild, type ScenarioSummary, type ToChild } from './protocol.js';

// Why a process and not a worker thread: a process contains everything the user's code can do to the process it
// runs in — process.exit, process.abort, a fatal out-of-memory, a signal sent to itself, a native crash — and
// SIGKILL stops any code, a synchronous endless loop included. A worker contains process.exit and can be
// terminated, but abort, OOM of the whole heap and process.kill(process.pid) would take kmslab and the lab with it.

/** HEAP_LIMIT_MB is the scenario process's JavaScript heap: past it the process dies and the scenario fails. */
export const HEAP_LIMIT_MB = 1024;
/** LOAD_TIMEOUT_MS bounds importing the scenario files (top-level code that waits on something slow or endless). */
export const LOAD_TIMEOUT_MS = 60_000;

/** Failure is how a scenario's code ended when it did not pass: the message and its error class. */
export type Failure = NonNullable<StepRecord['error']>;

/** Running is a scenario's code at work: `done` settles with its failure, or undefined when it finished cleanly. */
export interface Running {
  done: Promise<Failure | undefined>;
  /** stop ends the code at once (SIGKILL for a scenario process). */
  stop(): void;
}

/** loadInOwnProcess imports the scenario files in a process of their own and returns what they define. */
export async function loadInOwnProcess(files: string[]): Promise<ScenarioSummary[]> {
  const tail: string[] = [];
  const child = startScenarioProcess((line) => {
    remember(tail, line);
    process.stderr.write(`${line}\n`);
  });
  let current = 'a scenario file';
  return new Promise<ScenarioSummary[]>((resolve, reject) => {
    const fail = (message: string) => {
      finish();
      reject(new KmslabError('usage', message));
    };
    const finish = () => {
      clearTimeout(timer);
      child.removeAllListeners('message');
      killGroup(child);
    };
    const timer = setTimeout(
      () =>
        fail(
          `${current} did not finish loading within ${LOAD_TIMEOUT_MS / 1000} s; does its top-level code wait on something?`,
        ),
      LOAD_TIMEOUT_MS,
    );
    child.on('message', (m: FromChild) => {
      if (m.type === 'importing') current = shown(m.file);
      else if (m.type === 'loaded') {
        finish();
        resolve(m.scenarios);
      } else if (m.type === 'load-failed') fail(m.message);
      else if (m.type === 'fatal') fail(`${current} could not be loaded: ${m.message}`);
    });
    afterExit(child, (how) =>
      fail(
        `${current} ended the process that loads scenario files (${how}); a scenario file must not exit when imported${lastWords(tail)}`,
      ),
    );
    child.send({ type: 'load', files } satisfies ToChild);
  });
}

/**
 * runInOwnProcess runs a scenario from a file in a process of its own. The lab stays here: `host` answers the
 * scenario's calls on it and records its steps. However the process ends before the scenario finished — exit,
 * crash, an unhandled rejection, a wait on nothing — `done` says so; it never hangs and never throws.
 */
export function runInOwnProcess(
  scenario: Scenario,
  host: LabHost,
  start: { params: ScenarioParams; namespace: string },
  emit: (event: RunEvent) => void,
  /** Called when the file is loaded and the scenario's code starts. */
  onStarted: () => void,
): Running {
  const origin = scenario.origin!;
  const tail: string[] = [];
  const child = startScenarioProcess((line) => {
    remember(tail, line);
    process.stderr.write(`  │ ${scenario.name}: ${line}\n`);
  });
  const done = new Promise<Failure | undefined>((resolve) => {
    let settled = false;
    const settle = (failure: Failure | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(loading);
      resolve(failure);
    };
    const loading = setTimeout(
      () =>
        settle({
          message: `its file did not finish loading within ${LOAD_TIMEOUT_MS / 1000} s; does its top-level code wait on something?`,
          class: 'timeout',
        }),
      LOAD_TIMEOUT_MS,
    );
    child.on('message', (m: FromChild) => {
      if (m.type === 'call') void answer(child, host, m);
      else if (m.type === 'started') {
        clearTimeout(loading);
        onStarted();
      } else if (m.type === 'waiting') {
        emit({ type: 'waiting', scenario: scenario.name, step: m.step, what: m.what, remainingMs: m.remainingMs });
      } else if (m.type === 'finished') settle(m.error);
      else if (m.type === 'fatal') settle({ message: m.message, class: 'error' });
      else if (m.type === 'load-failed') settle({ message: m.message, class: 'error' });
    });
    child.on('error', (error) =>
      settle({ message: `the scenario's process failed: ${error.message}`, class: 'error' }),
    );
    afterExit(child, (how, code) =>
      settle({
        message: `the scenario's process ended (${how}) before the scenario finished${code === 0 ? ': did its code call process.exit()?' : ''}${lastWords(tail)}`,
        class: 'error',
      }),
    );
  });
  child.send({
    type: 'run',
    file: origin.file,
    index: origin.index,
    name: scenario.name,
    lab: host.shape(),
    ...start,
  } satisfies ToChild);
  return {
    done,
    stop: () => {
      killGroup(child);
      host.release();
    },
  };
}

async function answer(child: ChildProcess, host: LabHost, call: Extract<FromChild, { type: 'call' }>): Promise<void> {
  const outcome = await host.answer(call.target, call.method, call.args).then(
    (value) => ({ value }),
    (error: unknown) => ({ error: toWire(error) }),
  );
  if (!child.connected) return;
  const reply = (body: { value?: unknown; error?: ReturnType<typeof toWire> }) =>
    child.send({ type: 'reply', id: call.id, ...body, ...host.state() } satisfies ToChild);
  try {
    reply(outcome);
  } catch (error) {
    reply({ error: toWire(new Error(`${call.target}.${call.method}: its answer cannot be sent (${String(error)})`)) });
  }
}

function startScenarioProcess(onLine: (line: string) => void): ChildProcess {
  const fromSource = import.meta.url.endsWith('.ts');
  const entry = fileURLToPath(new URL(`./child.${fromSource ? 'ts' : 'js'}`, import.meta.url));
  const child = fork(entry, [], {
    execArgv: [`--max-old-space-size=${HEAP_LIMIT_MB}`, ...(fromSource ? ['--import', tsxLoader()] : [])],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    serialization: 'advanced',
    // Its own process group: a terminal's Ctrl-C reaches kmslab, which decides, and whatever the scenario's code
    // starts (a kubectl, a plugin of its own) is stopped with it.
    detached: true,
  });
  for (const stream of [child.stdout, child.stderr]) {
    if (stream) createInterface({ input: stream, crlfDelay: Infinity }).on('line', onLine);
  }
  return child;
}

// SIGKILL to the scenario process's whole group: nothing it started outlives it.
function killGroup(child: ChildProcess): void {
  try {
    if (child.pid) process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}

// Run from source, kmslab's own modules are TypeScript: the scenario process loads them through tsx, as bin/ does.
const tsxLoader = () => pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm')).href;

// 'exit' can come before the last messages are read; the channel's end comes after them.
function afterExit(child: ChildProcess, then: (how: string, code: number | null) => void): void {
  child.once('exit', (code, signal) => {
    const how = signal ? `killed by ${signal}` : `exit code ${code}`;
    if (!child.connected) setImmediate(() => then(how, code));
    else child.once('disconnect', () => then(how, code));
  });
}

function remember(tail: string[], line: string): void {
  tail.push(line);
  if (tail.length > 5) tail.shift();
}

const lastWords = (tail: string[]) => (tail.length ? `; its last output: ${tail.join(' / ').slice(-400)}` : '');
