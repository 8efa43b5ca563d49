import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, expect, test } from 'vitest';
import { packageRoot } from '../harness/common/paths.js';
import { isolateHome } from './support/env.js';
import { packKmslab } from './support/pack.js';

// The README's library snippet, exactly as written, in the project a user gets from `npm init -y` ("type":
// "commonjs"), with kmslab installed from its packed tarball and tsx beside it, as the README says.
const home = isolateHome();
let project: string;

/** readmeSnippet is the TypeScript block that follows "**As a library.**" in the README. */
function readmeSnippet(): string {
  const readme = readFileSync(join(packageRoot, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('**As a library.**'));
  const block = /```ts\n([\s\S]*?)```/.exec(section);
  if (!block) throw new Error('the README has no ```ts block after "**As a library.**"');
  return block[1]!;
}

beforeAll(async () => {
  const tarball = await packKmslab();
  project = join(dirname(tarball), 'npm-init-project');
  mkdirSync(project);
  await execa('npm', ['init', '-y'], { cwd: project });
  const tsx = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')).dependencies.tsx as string;
  await execa('npm', ['install', '-D', '--no-audit', '--no-fund', '--prefer-offline', tarball, `tsx@${tsx}`], {
    cwd: project,
  });
}, 600_000);

test('npm init -y writes a CommonJS project, where the snippet as lab.ts is refused (why the README says .mts)', async () => {
  expect(JSON.parse(readFileSync(join(project, 'package.json'), 'utf8')).type).toBe('commonjs');
  writeFileSync(join(project, 'lab.ts'), readmeSnippet());
  const r = await execa('npx', ['tsx', 'lab.ts'], { cwd: project, reject: false });
  expect(r.exitCode).not.toBe(0);
  expect(r.stderr).toMatch(/Top-level await is currently not supported with the "cjs" output format/);
});

test('the snippet as lab.mts runs there: a real lab, checked from raw etcd, closed and removed', async () => {
  writeFileSync(join(project, 'lab.mts'), readmeSnippet());
  const r = await execa('npx', ['tsx', 'lab.mts'], { cwd: project, reject: false });
  expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0);
  // Closing removed the lab: nothing left on disk, nothing listed.
  expect(existsSync(join(home, 'labs')) ? readdirSync(join(home, 'labs')) : []).toEqual([]);
  const list = await execa(process.execPath, ['node_modules/.bin/kmslab', 'list'], { cwd: project });
  expect(list.stdout).not.toMatch(/default/);
}, 180_000);
