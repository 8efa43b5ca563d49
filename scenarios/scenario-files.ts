import { execFile } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import { register } from 'node:module';
import { extname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { KmslabError } from '../harness/common/errors.js';
import { defineScenario, type ScenarioDefinition } from './define.js';
import type { ScenarioSummary } from './isolation/protocol.js';
import type { Scenario } from './model.js';

/** A user's scenario and the file it came from. */
export interface ScenarioFile {
  scenario: Scenario;
  file: string;
}

const execFileAsync = promisify(execFile);
const LOADABLE = ['.mjs', '.js', '.cjs', '.ts', '.mts', '.cts'];
const TYPESCRIPT = new Set(['.ts', '.mts', '.cts']);
/** In a directory only these are scenarios; other modules there are the author's helpers. */
const IN_DIRECTORY = /\.scenario\.(mjs|js|cjs|ts|mts|cts)$/;

/**
 * loadScenarioFiles finds the user's scenarios: each path a module (default export: `defineScenario({...})` or an
 * array of them) or a directory searched for `*.scenario.{mjs,js,ts,…}`. The modules are imported in a process of
 * their own (see isolation/), never in this one: they are the user's code. Every problem names its file.
 */
export async function loadScenarioFiles(paths: string[]): Promise<ScenarioFile[]> {
  const files: string[] = [];
  for (const path of paths) files.push(...(await modulesAt(resolve(path), path)).filter((f) => !files.includes(f)));
  const { loadInOwnProcess } = await import('./isolation/scenario-process.js');
  return (await loadInOwnProcess(files)).map((found) => ({ scenario: fromFile(found), file: found.file }));
}

/** fromFile is a scenario found in a file, as the runner takes it: its code runs in the scenario's own process. */
function fromFile(found: ScenarioSummary): Scenario {
  const { file, index, ...scenario } = found;
  return {
    ...scenario,
    origin: { file, index },
    run: () => Promise.reject(new Error(`${shown(file)}: a scenario from a file runs in its own process`)),
  };
}

/**
 * importScenarioFiles imports scenario modules in this process and checks each scenario. It runs in the process
 * that runs the user's code; `onImport` hears each file before it is imported.
 */
export async function importScenarioFiles(
  files: string[],
  onImport: (file: string) => void = () => undefined,
): Promise<Array<{ scenario: Scenario; file: string; index: number }>> {
  // tsx first: hooks registered later run first, and ours must see what tsx decided about a .ts file.
  if (files.some((f) => TYPESCRIPT.has(extname(f)))) await loadTypeScript();
  scenarioHooks();
  const loaded: Array<{ scenario: Scenario; file: string; index: number }> = [];
  for (const file of files) {
    onImport(file);
    for (const [index, scenario] of (await scenariosIn(file)).entries()) {
      const clash = loaded.find((l) => l.scenario.name === scenario.name);
      if (clash) {
        throw new KmslabError(
          'usage',
          `two scenarios are named "${scenario.name}": in ${shown(clash.file)} and ${shown(file)}; rename one`,
        );
      }
      loaded.push({ scenario, file, index });
    }
  }
  return loaded;
}

/** shown is a file as messages name it: relative to the working directory when below it. */
export const shown = (file: string) => {
  const near = relative(process.cwd(), file);
  return near && !near.startsWith('..') ? near : file;
};

async function modulesAt(path: string, given: string): Promise<string[]> {
  const info = await stat(path).catch(() => undefined);
  if (!info) throw new KmslabError('usage', `${given}: no such scenario file or directory`);
  if (info.isDirectory()) {
    const found = (await readdir(path, { recursive: true }))
      .filter(
        (f) => IN_DIRECTORY.test(f) && !f.split('/').some((part) => part === 'node_modules' || part.startsWith('.')),
      )
      .sort()
      .map((f) => join(path, f));
    if (!found.length) {
      throw new KmslabError('usage', `${given} holds no scenario file; name them *.scenario.mjs, *.scenario.ts, …`);
    }
    return found;
  }
  if (!LOADABLE.includes(extname(path))) {
    throw new KmslabError('usage', `${given} is not a module kmslab can load; use ${LOADABLE.join(', ')}`);
  }
  return [path];
}

async function scenariosIn(file: string): Promise<Scenario[]> {
  let exported: unknown;
  try {
    exported = ((await import(pathToFileURL(file).href)) as { default?: unknown }).default;
  } catch (error) {
    const line = (await syntaxErrorLine(error, file)) ?? throwLine(error, file);
    throw new KmslabError(
      'usage',
      `${shown(file)}${line ? `:${line}` : ''} could not be loaded: ${(error as Error).message}`,
    );
  }
  if (exported === undefined) {
    throw new KmslabError(
      'usage',
      `${shown(file)} has no default export; end it with export default defineScenario({ name, summary, run })`,
    );
  }
  const list = Array.isArray(exported) ? exported : [exported];
  return list.map((entry) => {
    try {
      return defineScenario(entry as ScenarioDefinition);
    } catch (error) {
      throw new KmslabError('usage', `${shown(file)}: ${(error as Error).message}`);
    }
  });
}

/** throwLine is the line of a scenario module that threw while it was imported. */
function throwLine(error: unknown, file: string): string | undefined {
  const stack = String((error as Error | undefined)?.stack ?? '');
  const url = pathToFileURL(file).href;
  return stack.includes(url) ? stack.slice(stack.indexOf(url) + url.length).match(/^:(\d+)/)?.[1] : undefined;
}

/** syntaxErrorLine asks `node --check` where a JavaScript syntax error is: an import's error does not say. */
async function syntaxErrorLine(error: unknown, file: string): Promise<string | undefined> {
  if (!(error instanceof SyntaxError) || TYPESCRIPT.has(extname(file))) return undefined;
  const check = await execFileAsync(process.execPath, ['--check', file]).catch((e: { stderr?: string }) => e);
  const stderr = String((check as { stderr?: string }).stderr ?? '');
  return stderr.includes(`${file}:`)
    ? stderr.slice(stderr.indexOf(`${file}:`) + file.length).match(/^:(\d+)/)?.[1]
    : undefined;
}

// Run from source, kmslab itself is loaded through tsx, and so are TypeScript scenarios; compiled, tsx is loaded
// only when a scenario needs it.
let typescript: Promise<void> | undefined;
function loadTypeScript(): Promise<void> {
  if (import.meta.url.endsWith('.ts')) return Promise.resolve();
  typescript ??= import('tsx/esm/api').then(({ register: tsx }) => void tsx());
  return typescript;
}

// Two rules for loading scenario modules. `import ... from 'kmslab'` means this kmslab, wherever the file lives and
// whatever is installed beside it: one copy of the library, and scenario files need no package.json of their own.
// And a .ts file outside a "type": "module" package is still an ES module (scenarios use import and top-level await),
// not CommonJS as Node's default would make it.
let hooked = false;
function scenarioHooks(): void {
  if (hooked) return;
  hooked = true;
  const target = new URL(`../index${extname(new URL(import.meta.url).pathname)}`, import.meta.url).href;
  const hooks = `let target;
export function initialize(data) { target = data.target; }
export async function resolve(specifier, context, next) {
  const found = await next(specifier === 'kmslab' ? target : specifier, context);
  const typescript = /\\.ts$/.test(found.url) && !found.url.includes('/node_modules/');
  return typescript && found.format === 'commonjs' ? { ...found, format: 'module' } : found;
}`;
  register(`data:text/javascript,${encodeURIComponent(hooks)}`, { data: { target } });
}
