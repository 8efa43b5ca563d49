import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { execa } from 'execa';
import { afterAll, expect, test } from 'vitest';
import { writeDockerShim } from './docker-shim.js';

// The shim in front of stand-ins for docker and compose that print how they were called.
const dir = mkdtempSync(join(tmpdir(), 'kmslab-shim-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const fake = (name: string) => {
  const path = join(dir, 'real', name);
  mkdirSync(join(dir, 'real'), { recursive: true });
  writeFileSync(path, `#!/bin/sh\necho ${name} "$@"\n`);
  chmodSync(path, 0o755);
  return path;
};
fake('docker');
const compose = fake('compose');

test('run and create get the runtime, compose goes to the given binary, everything else passes through', async () => {
  const saved = process.env.PATH;
  process.env.PATH = [join(dir, 'real'), saved].join(delimiter);
  try {
    const shim = join(await writeDockerShim(join(dir, 'shim'), { runtime: 'kmslab', compose }), 'docker');
    const run = async (...args: string[]) => (await execa(shim, args)).stdout;
    expect(await run('run', '--name', 'n', 'img')).toBe('docker run --runtime=kmslab --name n img');
    expect(await run('create', 'img')).toBe('docker create --runtime=kmslab img');
    expect(await run('ps', '-a')).toBe('docker ps -a');
    expect(await run('compose', 'up', '-d')).toBe('compose up -d');
  } finally {
    process.env.PATH = saved;
  }
});
