import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import type { Command } from '@commander-js/extra-typings';
import { packageRoot } from '../harness/common/paths.js';
import { buildProgram } from './program.js';

// The CI workflows people copy must run: they parse as YAML, and every kmslab command and flag in them exists.
const read = (file: string) => readFileSync(join(packageRoot, file), 'utf8');
const workflow = parse(read('.github/workflows/ci.yml'));
const docs = read('docs/ci.md');
const yamlBlocks = [...docs.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
const bashBlocks = [...docs.matchAll(/```bash\n([\s\S]*?)```/g)].map((m) => m[1]!);

/** Every `kmslab <command> …` invocation in a text, as the command's words and the flags given to it. */
function invocations(text: string): Array<{ path: string[]; flags: string[] }> {
  const joined = text
    .replace(/\\\n\s*/g, ' ')
    .replace(/>\n\s*/g, '')
    .replace(/\n\s{10,}/g, ' ');
  return [
    ...joined.matchAll(/(?:npx kmslab|bin\/kmslab\.js|^\s*kmslab) ([a-z][a-z-]*(?: [a-z][a-z-]*)?)([^\n]*)/gm),
  ].flatMap((m) => {
    // After ` -- ` comes the kmslab command another one runs (kmslab job manifest --shards 3 -- run --tag core).
    const [own, inner] = m[2]!.split(/ -- (?=[a-z])/, 2);
    return [
      {
        path: m[1]!.split(/\s+/),
        // Flags inside quotes belong to the user's own commands (--plugin-cmd "my-plugin --listen …").
        flags: [...own!.replace(/"[^"]*"|'[^']*'/g, '').matchAll(/(?:^|\s)(--[a-z][a-z-]*)/g)].map((f) => f[1]!),
      },
      ...(inner ? invocations(`kmslab ${inner}`) : []),
    ];
  });
}

function commandAt(path: string[]): Command | undefined {
  let c = buildProgram() as unknown as Command;
  for (const word of path) {
    const next = c.commands.find((s) => s.name() === word) as unknown as Command | undefined;
    if (!next) break;
    c = next;
  }
  return c.name() === 'kmslab' ? undefined : c;
}

describe('CI examples', () => {
  test('the GitHub workflow runs the README test command with the Go-built binaries cached', () => {
    const steps = workflow.jobs.test.steps as Array<{ run?: string; uses?: string; with?: { path?: string } }>;
    expect(steps.map((s) => s.run).filter(Boolean)).toEqual(
      expect.arrayContaining(['npm ci --no-audit --no-fund', 'npm test']),
    );
    expect(steps.some((s) => s.uses?.startsWith('actions/cache') && s.with?.path === '~/.cache/kmslab')).toBe(true);
    expect(read('README.md')).toContain('npm ci && npm test');
  });

  test('every workflow in docs/ci.md is valid YAML', () => {
    expect(yamlBlocks.length).toBeGreaterThan(0);
    for (const block of yamlBlocks) expect(parse(block).jobs).toBeTypeOf('object');
  });

  test('every kmslab command and flag the CI examples use exists', () => {
    const all = [...yamlBlocks, ...bashBlocks, read('.github/workflows/ci.yml')].flatMap(invocations);
    expect(all.length).toBeGreaterThan(3);
    for (const { path, flags } of all) {
      const command = commandAt(path);
      expect(command, `kmslab ${path.join(' ')}`).toBeDefined();
      const known = command!.options.map((o) => o.long);
      for (const flag of flags) expect(known, `kmslab ${path.join(' ')} ${flag}`).toContain(flag);
    }
  });
});
