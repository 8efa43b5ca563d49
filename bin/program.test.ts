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

  test.each(commands.map(([n, c]) => [n, c] as const))('%s has help text', (_name, c) => {
    expect(c.description().length).toBeGreaterThan(10);
    expect(c.helpInformation()).toContain('Usage:');
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
