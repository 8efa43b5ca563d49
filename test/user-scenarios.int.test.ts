import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { kmslab } from './support/cli.js';
import { isolateHome } from './support/env.js';

// The user's own scenario files through the CLI, on the sim backend (the lab is not what is under test here: the
// loading, selection, reports and exit codes are). The files live outside the checkout, in a directory with no
// package.json, as they would in a user's repository.
isolateHome();
let dir: string;
const file = (name: string, text: string) => {
  const path = join(dir, name);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
  return path;
};
const scenario = (name: string, body: string, extra = '') => `import { defineScenario, expectAllKmsV2 } from 'kmslab';
export default defineScenario({ name: '${name}', summary: 'summary of ${name}', ${extra}
  async run(lab, ctx) { ${body} } });
`;
const writes = `await ctx.step('write', async () => { await lab.api.createSecret({ namespace: ctx.namespace, name: 'a' }, { k: 'v' }); });`;
const passes = `${writes}
  await ctx.step('raw etcd: KMS v2', async (ev) => { ev.s = await expectAllKmsV2(lab, '/registry/secrets/' + ctx.namespace + '/', (await lab.kms.status()).keyId, 1); });`;
const fails = `${writes}
  await ctx.step('expect the impossible', async () => { throw new Error('value was not what I expected'); });`;
const sim = (...args: string[]) => kmslab(['run', '--backend', 'sim', ...args], { cwd: dir });

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kmslab-user-scenarios-'));
  file('good/passes.scenario.mjs', scenario('passes', passes, "tags: ['mine'],"));
  file('good/nested/typed.scenario.ts', scenario('typed', `const n: number = 1; ${passes}`));
  file('good/helper.mjs', 'export const notAScenario = true;');
  file('good/node_modules/dep/x.scenario.mjs', 'throw new Error("node_modules must not be searched")');
  file('bad/fails.scenario.mjs', scenario('fails', fails));
});

describe('kmslab run with scenario files', () => {
  test('a passing file exits 0 and reports its steps', async () => {
    const r = await sim('./good/passes.scenario.mjs', '--json', 'r.json');
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const report = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8'));
    expect(report.scenarios.map((s: { name: string }) => s.name)).toEqual(['passes']);
    expect(report.scenarios[0].steps.map((s: { name: string }) => s.name)).toEqual(['write', 'raw etcd: KMS v2']);
  });

  test('a failing file exits 1 with the failure in the console and in JUnit', async () => {
    const r = await sim('./bad/fails.scenario.mjs', '--junit', 'j.xml');
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain('value was not what I expected');
    const junit = readFileSync(join(dir, 'j.xml'), 'utf8');
    expect(junit).toMatch(/<failure[^>]*value was not what I expected/);
  });

  test('a directory runs every *.scenario.* file in it and below (TypeScript too), nothing else', async () => {
    const r = await sim('./good/', '--json', 'd.json');
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const names = JSON.parse(readFileSync(join(dir, 'd.json'), 'utf8')).scenarios.map((s: { name: string }) => s.name);
    expect(names.sort()).toEqual(['passes', 'typed']);
  });

  test('files next to built-ins: names pick built-ins, --tag picks from both', async () => {
    const named = await sim('./good/passes.scenario.mjs', 'enable-new', '--json', 'n.json');
    expect(named.exitCode, String(named.stderr)).toBe(0);
    const names = (f: string) =>
      JSON.parse(readFileSync(join(dir, f), 'utf8')).scenarios.map((s: { name: string }) => s.name);
    expect(names('n.json')).toEqual(['passes', 'enable-new']);
    const tagged = await sim('./good/', '--tag', 'mine', '--json', 't.json');
    expect(tagged.exitCode, String(tagged.stderr)).toBe(0);
    expect(names('t.json')).toEqual(['passes']);
  });

  test('kmslab scenarios --from lists them with their files', async () => {
    const r = await kmslab(['scenarios', '--from', './good', '--json'], { cwd: dir });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(JSON.parse(String(r.stdout))).toEqual([
      expect.objectContaining({ name: 'typed', file: join('good', 'nested', 'typed.scenario.ts') }),
      expect.objectContaining({ name: 'passes', tags: ['mine'], file: join('good', 'passes.scenario.mjs') }),
    ]);
  });
});

describe('a broken scenario file is a usage error (exit 2) that names the file and what is wrong', () => {
  test.each([
    [
      'syntax.scenario.mjs',
      'export default {\n  name: ,\n};\n',
      /syntax\.scenario\.mjs:2 could not be loaded: Unexpected token/,
    ],
    ['syntax.scenario.ts', 'const a: number = ;\n', /syntax\.scenario\.ts could not be loaded: .*:1:\d+: ERROR/s],
    ['throws.scenario.mjs', '\nthrow new Error("boom");\n', /throws\.scenario\.mjs:2 could not be loaded: boom/],
    ['none.scenario.mjs', 'export const x = 1;\n', /none\.scenario\.mjs has no default export/],
    [
      'fields.scenario.mjs',
      'export default { name: "Bad Name", summary: "s", run: async () => {}, step: 1 };\n',
      /fields\.scenario\.mjs: scenario "Bad Name" is not valid: name: .*Unrecognized key: "step"/,
    ],
    [
      'missing-import.scenario.mjs',
      'import "./nowhere.mjs";\nexport default 1;\n',
      /missing-import\.scenario\.mjs could not be loaded: Cannot find module/,
    ],
    ['clash.scenario.mjs', `${scenario('rotate', '')}`, /your scenario "rotate" has the name of a built-in one/],
    [
      'two.scenario.mjs',
      `import { defineScenario } from 'kmslab';\nconst s = { name: 'twin', summary: 's', run: async () => {} };\nexport default [defineScenario(s), s];\n`,
      /two scenarios are named "twin": in .*two\.scenario\.mjs and .*two\.scenario\.mjs/,
    ],
    ['wrong.scenario.txt', 'hello', /wrong\.scenario\.txt is not a module kmslab can load/],
  ])('%s', async (name, text, message) => {
    file(`broken/${name}`, text);
    const r = await sim(`./broken/${name}`);
    expect(r.exitCode, String(r.stdout)).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  test('a path that does not exist, and a directory without scenario files', async () => {
    const missing = await sim('./no/such.scenario.mjs');
    expect([missing.exitCode, missing.stderr]).toEqual([
      2,
      expect.stringMatching(/no such scenario file or directory/),
    ]);
    mkdirSync(join(dir, 'empty'));
    const empty = await sim('./empty');
    expect([empty.exitCode, empty.stderr]).toEqual([2, expect.stringMatching(/empty holds no scenario file/)]);
  });
});
