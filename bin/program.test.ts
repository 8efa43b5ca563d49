import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import type { Command } from '@commander-js/extra-typings';
import { buildProgram } from './program.js';

// Walks the whole command tree: every command builds, documents itself, and rejects unknown options.
const all = (c: Command, path: string[] = []): Array<[string, Command]> =>
  c.commands.flatMap((s) => {
    const p = [...path, s.name()];
    return [[p.join(' '), s as unknown as Command] as [string, Command], ...all(s as unknown as Command, p)];
  });

describe('kmslab CLI', () => {
  const commands = all(buildProgram());

  test('has the documented commands', () => {
    const names = commands.map(([n]) => n);
    for (const n of [
      'up',
      'down',
      'status',
      'list',
      'inspect',
      'build',
      'fake-kms serve',
      'kms status',
      'kms fault',
      'kms audit',
    ]) {
      expect(names).toContain(n);
    }
  });

  // Each command must exit through kmslab's handler: one without exitOverride would end the whole process on a
  // usage mistake (and kill this test run), not exit 2 with a message.
  test.each(commands.map(([n]) => n))('%s rejects an unknown option as a usage error', async (name) => {
    const program = buildProgram();
    const quiet = (c: Command) => {
      c.configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
      c.commands.forEach((s) => quiet(s as unknown as Command));
    };
    quiet(program);
    await expect(program.parseAsync(['node', 'kmslab', ...name.split(' '), '--no-such-option'])).rejects.toMatchObject({
      code: expect.stringMatching(/^commander\.(unknownOption|missingMandatoryOptionValue)$/),
    });
  });

  test('the README documents every top-level command, and names none that does not exist', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const top = buildProgram().commands.map((c) => c.name());
    for (const name of top)
      expect(readme, `README says nothing about kmslab ${name}`).toMatch(new RegExp(`kmslab ${name}\\b`));
    const mentioned = new Set([...readme.matchAll(/(?:npx kmslab|`kmslab) ([a-z][a-z-]*)/g)].map((m) => m[1]!));
    for (const name of mentioned) expect(top, `README mentions kmslab ${name}`).toContain(name);
  });

  test('an unknown option is a usage error', async () => {
    const program = buildProgram();
    program.configureOutput({ writeErr: () => undefined });
    program.commands.forEach((c) => c.configureOutput({ writeErr: () => undefined }));
    await expect(program.parseAsync(['node', 'kmslab', 'list', '--bogus'])).rejects.toMatchObject({
      code: 'commander.unknownOption',
    });
  });
});
