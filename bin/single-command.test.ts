import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Command } from '@commander-js/extra-typings';
import { packageRoot } from '../harness/common/paths.js';
import { fakeEtcd, type FakeEtcd } from '../test/support/fake-etcd.js';
import { buildProgram } from './program.js';
import { singleCommandProgram } from './single-command.js';

const argv = (...args: string[]) => ['node', 'kmslab', ...args];
const sub = (program: Command, name: string) => program.commands.find((c) => c.name() === name) as Command;

describe('inspect and verify start with only their own command', () => {
  test.each(['inspect', 'verify'])('%s: the same help, options and version as in the whole CLI', async (name) => {
    const single = await singleCommandProgram(argv(name, '--help'));
    expect(single?.commands.map((c) => c.name())).toEqual([name]);
    const full = buildProgram();
    expect(sub(single!, name).helpInformation()).toBe(sub(full, name).helpInformation());
    expect(single!.version()).toBe(full.version());
  });

  test.each(['inspect', 'verify'])(
    '%s: an unknown option is a usage error through the caller’s handler',
    async (name) => {
      const program = (await singleCommandProgram(argv(name, '--no-such-flag')))!;
      sub(program, name).configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
      await expect(program.parseAsync(argv(name, '--no-such-flag'))).rejects.toMatchObject({
        code: 'commander.unknownOption',
      });
    },
  );

  test('any other command, or none, builds the whole CLI', async () => {
    for (const args of [['up'], ['--help'], [], ['__proto__'], ['constructor'], ['--name', 'x', 'inspect']])
      expect(await singleCommandProgram(argv(...args))).toBeUndefined();
  });
});

// What a command loaded, read as it exits: the npm packages among the CommonJS modules Node holds (the heavy ones
// are CommonJS: the etcd3 client, the JUnit builder, protobufjs and yaml for the rest of the CLI).
const reportPackages = `data:text/javascript,${encodeURIComponent(`
import { createRequire } from 'node:module';
const Module = createRequire(process.cwd() + '/')('node:module');
process.on('exit', () => {
  const names = Object.keys(Module._cache).map((f) => /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(f)?.[1]);
  process.stderr.write('packages: ' + [...new Set(names.filter(Boolean))].join(' ') + '\\n');
});`)}`;

describe('start-up loads what the command needs, not the whole CLI', () => {
  let etcd: FakeEtcd;
  beforeAll(async () => {
    etcd = await fakeEtcd([{ key: Buffer.from('/registry/secrets/ns/a'), value: Buffer.from('k8s\u0000x') }]);
  });
  afterAll(() => etcd?.close());
  const NOT_NEEDED = [
    'etcd3',
    'junit-report-builder',
    'protobufjs',
    'yaml',
    'proper-lockfile',
    '@kubernetes/client-node',
  ];

  test.each([
    ['inspect', ['--prefix', '/registry/none/']],
    ['verify', ['--resource', 'none', '--fail-on', 'plaintext']],
  ])('%s', async (name, args) => {
    const r = await execa(
      process.execPath,
      ['--import', reportPackages, `${packageRoot}/bin/kmslab.js`, name, '--etcd', etcd.url, ...args],
      { reject: false },
    );
    expect(r.exitCode, r.stderr).toBe(0);
    const loaded = /packages: (.*)/.exec(r.stderr)?.[1]?.split(' ') ?? [];
    // The report works: grpc-js read etcd.
    expect(loaded).toContain('@grpc/grpc-js');
    expect(loaded.filter((p) => NOT_NEEDED.includes(p))).toEqual([]);
  });
});
