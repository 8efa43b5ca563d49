import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, test } from 'vitest';
import { packageRoot } from '../harness/common/paths.js';
import { isolateHome } from './support/env.js';
import { packKmslab } from './support/pack.js';

// What ships: `npm pack` (which compiles dist/), installed into an empty project the way a user would, then used
// there: the CLI, the library from plain JavaScript, the types, user scenarios, and the examples in the tarball.
isolateHome();
let project: string;
const inProject = (file: string, args: string[], env: Record<string, string> = {}) =>
  execa(process.execPath, [file, ...args], { cwd: project, reject: false, env });
const kmslab = (...args: string[]) => inProject('node_modules/.bin/kmslab', args);

// A module-loading hook that lists every module loaded, to see what a command really pulls in.
const traceHooks = `data:text/javascript,${encodeURIComponent(
  `export async function resolve(s, c, next) { const r = await next(s, c); if (r.url.startsWith('file:')) process.stderr.write('loaded ' + r.url + '\\n'); return r; }`,
)}`;
const traced = () =>
  `data:text/javascript,${encodeURIComponent(`import { register } from 'node:module'; register(${JSON.stringify(traceHooks)});`)}`;
const HEAVY = ['@kubernetes/client-node', 'testcontainers', 'etcd3', 'dockerode', 'ssh2', '/tsx/'];

beforeAll(async () => {
  const tarball = await packKmslab();
  project = join(dirname(tarball), 'user-project');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'user-project', private: true, type: 'module' }));
  await execa('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], { cwd: project });
}, 600_000);

describe('the packed package', () => {
  test('holds compiled code, no TypeScript sources, no tests', () => {
    const root = join(project, 'node_modules/kmslab');
    expect(existsSync(join(root, 'dist/bin/cli.js'))).toBe(true);
    expect(existsSync(join(root, 'dist/index.d.ts'))).toBe(true);
    expect(existsSync(join(root, 'bin/cli.ts'))).toBe(false);
    const files = readdirSync(root, { recursive: true }).map(String);
    expect(files.filter((f) => /\.test\.|(^|\/)test\//.test(f) && !f.startsWith('examples/'))).toEqual([]);
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && !f.startsWith('examples/'))).toEqual([]);
  });

  test('kmslab --help answers from compiled code without loading the heavy dependencies', async () => {
    const r = await inProject('node_modules/.bin/kmslab', ['--help'], { NODE_OPTIONS: `--import=${traced()}` });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Usage: kmslab/);
    for (const command of ['up', 'run', 'inspect', 'conformance', 'chaos', 'scenarios'])
      expect(r.stdout).toContain(command);
    const loaded = r.stderr.split('\n').filter((l) => l.startsWith('loaded '));
    expect(loaded.length).toBeGreaterThan(5); // the trace works
    expect(loaded.filter((l) => HEAVY.some((h) => l.includes(h)))).toEqual([]);
  });

  test('the fake KMS a lab spawns runs without tsx and without the CLI-only dependencies', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kms-'));
    const child = execa(
      process.execPath,
      ['node_modules/.bin/kmslab', 'fake-kms', 'serve', `--socket=${dir}/kms.sock`, '--ephemeral'],
      {
        cwd: project,
        reject: false,
        env: { NODE_OPTIONS: `--import=${traced()}` },
      },
    );
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      child.stderr!.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (stderr.includes('fake-kms serving')) resolve();
      });
      void child.then(() => reject(new Error(`fake-kms exited: ${stderr}`)));
    });
    child.kill('SIGTERM');
    await child;
    const loaded = stderr.split('\n').filter((l) => l.startsWith('loaded '));
    expect(loaded.some((l) => l.includes('/dist/fake-kms/'))).toBe(true);
    expect(loaded.filter((l) => HEAVY.some((h) => l.includes(h)))).toEqual([]);
  });

  test('the library runs a sim lab from a plain .mjs file', async () => {
    writeFileSync(
      join(project, 'use.mjs'),
      `import { startLab, runScenarios, selectScenarios, labFactory } from 'kmslab';
const lab = await startLab({ backend: 'sim', name: 'from-mjs' });
try {
  await lab.api.ensureNamespace('demo');
  await lab.api.createSecret({ namespace: 'demo', name: 'one' }, { password: 'hunter2' });
  const raw = await lab.etcd.get('/registry/secrets/demo/one');
  console.log('stored ' + raw.subarray(0, 26).toString());
} finally {
  await lab.close();
}
const report = await runScenarios(selectScenarios(['enable-new', 'rotate']), labFactory({ backend: 'sim' }));
console.log(report.outcome, report.scenarios.map((s) => s.name).join(','));
`,
    );
    const r = await inProject('use.mjs', []);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('stored k8s:enc:kms:v2:kmslab');
    expect(r.stdout).toContain('passed enable-new,rotate');
  });

  test('its types check in a TypeScript project (the vitest example as a user would compile it)', async () => {
    cpSync(join(project, 'node_modules/kmslab/examples/node-test/lab.test.ts'), join(project, 'typed.ts'));
    const r = await execa(
      process.execPath,
      [
        join(packageRoot, 'node_modules/typescript/bin/tsc'),
        '--noEmit',
        '--strict',
        '--module',
        'nodenext',
        '--target',
        'es2023',
        '--lib',
        'es2023,esnext.disposable',
        '--typeRoots',
        join(packageRoot, 'node_modules/@types'),
        '--types',
        'node',
        'typed.ts',
      ],
      { cwd: project, reject: false },
    );
    expect(r.exitCode, r.stdout).toBe(0);
  });

  test('the node:test example in the tarball passes (await using, through tsx)', async () => {
    cpSync(join(project, 'node_modules/kmslab/examples/node-test/lab.test.ts'), join(project, 'example.test.ts'));
    const r = await execa(process.execPath, ['--import', 'tsx', '--test', 'example.test.ts'], {
      cwd: project,
      reject: false,
    });
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/# pass 2/);
  });

  test('user scenarios: the examples pass, a failing one exits 1, a broken one exits 2', async () => {
    cpSync(join(project, 'node_modules/kmslab/examples/scenarios'), join(project, 'scenarios'), { recursive: true });
    const ok = await kmslab('run', '--backend', 'sim', './scenarios/');
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/2\/2 scenarios passed/);
    writeFileSync(
      join(project, 'scenarios/wrong.scenario.ts'),
      `import { defineScenario } from 'kmslab';
export default defineScenario({ name: 'wrong', summary: 'expects plaintext under KMS', async run(lab, ctx) {
  await ctx.step('write', () => lab.api.createSecret({ namespace: ctx.namespace, name: 'x' }, { k: 'v' }));
  await ctx.step('expect plaintext', async () => { throw new Error('stored encrypted'); });
} });
`,
    );
    const failed = await kmslab('run', '--backend', 'sim', './scenarios/wrong.scenario.ts');
    expect(failed.exitCode, failed.stderr).toBe(1);
    writeFileSync(join(project, 'scenarios/broken.scenario.mjs'), 'export default 42;\n');
    const broken = await kmslab('run', '--backend', 'sim', './scenarios/broken.scenario.mjs');
    expect(broken.exitCode).toBe(2);
    expect(broken.stderr).toContain('scenarios/broken.scenario.mjs');
  });
});
