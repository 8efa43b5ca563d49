import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { isRunning } from '../harness/process/process-identity.js';
import type { ScenarioResult } from '../scenarios/model.js';
import { kmslab } from './support/cli.js';
import { isolateHome } from './support/env.js';

// The user's own scenario files through the CLI, mostly on the sim backend (the lab is not what is under test here:
// the loading, selection, reports and exit codes are; hostile code also runs on real local labs, below). The files
// live outside the checkout, in a directory with no package.json, as they would in a user's repository.
const home = isolateHome();
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

test('the whole Lab reaches a scenario in its own process: data as Buffers, errors as ApiErrors, time, state', async () => {
  file(
    'whole-lab/whole.scenario.mjs',
    `import { defineScenario, ApiError } from 'kmslab';
export default defineScenario({ name: 'whole-lab', summary: 'uses every part of the lab', async run(lab, ctx) {
  const ref = (name) => ({ namespace: ctx.namespace, name });
  await ctx.step('every part answers', async (ev) => {
    await lab.api.createSecret(ref('a'), { k: Buffer.from('v') });
    const s = await lab.api.readSecret(ref('a'));
    ev.readBack = Buffer.isBuffer(s.data.k) && s.data.k.toString();
    ev.listed = (await lab.api.listSecrets(ctx.namespace)).length;
    ev.raw = Buffer.isBuffer(await lab.etcd.get('/registry/secrets/' + ctx.namespace + '/a'));
    let entries = 0;
    for await (const page of lab.etcd.scan('/registry/secrets/')) entries += page.entries.length;
    ev.scanned = entries;
    const before = (await lab.kms.status()).keyId;
    await lab.kms.rotate();
    ev.rotated = (await lab.kms.status()).keyId !== before;
    ev.canRotate = lab.kms.capabilities.has('rotate') && lab.kms.lacks('rotate') === undefined;
    await lab.apiservers[0].stop();
    ev.stopped = !lab.apiservers[0].running;
    await lab.apiservers[0].start();
    ev.started = lab.apiservers[0].running;
    const t = lab.clock.now();
    await lab.clock.sleep(5000);
    ev.slept = lab.clock.now() - t;
    lab.clock.timeout(1000).cancel();
    ev.waited = await ctx.wait('ten seconds', async () => (lab.clock.now() - t >= 10000 ? 'yes' : undefined));
    ev.missing = await lab.api.readSecret(ref('missing')).then(() => 'found', (e) => e instanceof ApiError && e.status);
    ev.aborted = await lab.api.readSecret(ref('a'), { signal: AbortSignal.abort() }).then(() => 'read', (e) => e.message);
    ev.unsendable = await lab.api.createSecret(ref('f'), { k: () => 1 }).then(() => 'sent', (e) => e.message);
    ev.closing = await lab.close().then(() => 'closed', (e) => e.message);
    ev.killEtcd = typeof lab.killEtcd;
  });
} });
`,
  );
  const r = await sim('./whole-lab/', '--json', 'whole.json');
  expect(r.exitCode, String(r.stdout) + String(r.stderr)).toBe(0);
  const evidence = JSON.parse(readFileSync(join(dir, 'whole.json'), 'utf8')).scenarios[0].steps[0].evidence;
  expect(evidence).toMatchObject({
    readBack: 'v',
    listed: 1,
    raw: true,
    scanned: 1,
    rotated: true,
    canRotate: true,
    stopped: true,
    started: true,
    slept: 5000,
    waited: 'yes',
    missing: 404,
    aborted: 'the request was aborted',
    closing: expect.stringMatching(/the lab belongs to the run/),
    killEtcd: 'undefined',
  });
  expect(evidence.unsendable).toMatch(/api\.createSecret: its arguments cannot be sent to the lab/);
  expect(evidence.kmsCalls).toBeDefined();
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

// Hostile scenario code: each behaviour is a fixture file run through the real CLI, on the sim and on real local
// labs. Every one must end as a failed scenario with a full report (console, JSON, JUnit), and nothing of its lab —
// recorded processes, their process groups, the scenario's own process, the lab's directory — may survive the run.
// The fixture writes down what to look for (its lab's recorded processes, its own pid) before it misbehaves.
const witnessed = (name: string, body: string) => `import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { defineScenario } from 'kmslab';
export default defineScenario({ name: '${name}', summary: 'misbehaves: ${name}', async run(lab, ctx) {
  let processes = [];
  try { processes = JSON.parse(readFileSync(process.env.KMSLAB_HOME + '/labs/' + lab.name + '/lab.json', 'utf8')).processes; } catch {}
  writeFileSync(new URL('./${name}.witness.json', import.meta.url), JSON.stringify({ lab: lab.name, pid: process.pid, processes }));
  ${body}
} });
`;
const written = `await ctx.step('write', async () => { await lab.api.createSecret({ namespace: ctx.namespace, name: 'a' }, { k: 'v' }); });`;
interface Hostile {
  name: string;
  body: string;
  /** The step that must be reported failed (none: the scenario failed outside any step). */
  step?: string;
  message: RegExp;
  args?: string[];
}
const HOSTILE: Hostile[] = [
  {
    name: 'exits',
    body: `${written} await ctx.step('exit', async () => { process.exit(0); });`,
    step: 'exit',
    message: /process ended \(exit code 0\) before the scenario finished: did its code call process\.exit\(\)\?/,
  },
  {
    name: 'rejects',
    body: `${written} await ctx.step('reject', async () => { void Promise.reject(new Error('nobody catches me')); await new Promise((r) => setTimeout(r, 200)); });`,
    step: 'reject',
    message: /an unhandled promise rejection during step "reject": nobody catches me/,
  },
  {
    name: 'hangs',
    body: `${written} await ctx.step('hang', () => new Promise(() => {}));`,
    step: 'hang',
    message: /waits during step "hang" on something that can never happen/,
  },
  {
    name: 'spins',
    body: `${written} await ctx.step('spin', async () => { for (;;) {} });`,
    step: 'spin',
    message: /step "spin" did not finish within 3s \(the step timeout/,
    args: ['--step-timeout', '3s'],
  },
  {
    name: 'circular',
    body: `${written} await ctx.step('circular', async (ev) => { const o = { n: 1 }; o.self = o; ev.o = o; });`,
    step: 'circular',
    message: /evidence cannot be written as JSON: evidence\.o\.self refers back to an object that contains it/,
  },
  { name: 'no-steps', body: '', message: /recorded no step, so it proved nothing/ },
];
// More of the same kinds, on the sim only and in one run (each would cost a lab start on local). The step timeout
// is the run's: 3 s.
const HOSTILE_SIM: Hostile[] = [
  {
    name: 'exits-1-between-steps',
    body: `${written} process.exit(1);`,
    message: /process ended \(exit code 1\) before the scenario finished/,
  },
  {
    name: 'aborts',
    body: `${written} await ctx.step('abort', async () => { process.abort(); });`,
    step: 'abort',
    message: /process ended \(killed by SIGABRT\)/,
  },
  {
    name: 'kills-itself',
    body: `${written} await ctx.step('kill', async () => { process.kill(process.pid, 'SIGKILL'); });`,
    step: 'kill',
    message: /process ended \(killed by SIGKILL\)/,
  },
  {
    name: 'throws-later',
    body: `${written} await ctx.step('throw later', async () => { setTimeout(() => { throw new Error('from a timer'); }, 10); await lab.clock.sleep(1000); await new Promise((r) => setTimeout(r, 200)); });`,
    step: 'throw later',
    message: /an uncaught exception during step "throw later": from a timer/,
  },
  {
    name: 'hangs-between-steps',
    body: `${written} await new Promise(() => {});`,
    message: /waits \(between steps\) on something that can never happen/,
  },
  {
    name: 'sleeps-forever',
    body: `${written} await ctx.step('poll forever', async () => { for (;;) await lab.clock.sleep(1000); });`,
    step: 'poll forever',
    message: /step "poll forever" did not finish within 3s/,
  },
  {
    name: 'leaves-a-helper',
    body: `await ctx.step('start a helper, then hang', async () => {
      const helper = spawn('sleep', ['300'], { stdio: 'ignore' });
      const witness = new URL('./leaves-a-helper.witness.json', import.meta.url);
      writeFileSync(witness, JSON.stringify({ ...JSON.parse(readFileSync(witness, 'utf8')), helper: helper.pid }));
      await new Promise(() => {});
    });`,
    step: 'start a helper, then hang',
    message: /step "start a helper, then hang" did not finish within 3s/,
  },
  {
    name: 'bigint',
    body: `await ctx.step('bigint', async (ev) => { ev.n = { big: 2n ** 70n }; });`,
    step: 'bigint',
    message: /evidence\.n\.big is a BigInt/,
  },
  {
    name: 'throws-a-string',
    body: `await ctx.step('throw', async () => { throw 'not an Error'; });`,
    step: 'throw',
    message: /threw "not an Error"/,
  },
];

// Gone: no such process (or group), or a zombie that only waits to be reaped.
const gone = (pid: number, group = false) => {
  try {
    process.kill(group ? -pid : pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
  if (group) return false;
  const stat = execFileSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' }).trim();
  return stat === '' || stat.startsWith('Z');
};

async function runHostile(backend: 'sim' | 'local', h: Hostile) {
  const fixture = file(`hostile/${h.name}.scenario.mjs`, witnessed(h.name, h.body));
  const reports = join(dir, 'hostile', `${backend}-${h.name}`);
  const r = await kmslab(
    ['run', '--backend', backend, fixture, '--json', `${reports}.json`, '--junit', `${reports}.xml`, ...(h.args ?? [])],
    { cwd: dir },
  );
  expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(1);
  expect(r.stdout).toMatch(h.message);
  expect(r.stderr).not.toMatch(/a kmslab bug|\n\s+at /);
  const report = JSON.parse(readFileSync(`${reports}.json`, 'utf8'));
  expect(report.outcome).toBe('failed');
  expect(report.scenarios).toHaveLength(1);
  expect(readFileSync(`${reports}.xml`, 'utf8')).toMatch(/<testsuites[^>]* failures="1"/);
  checkHostile(h, report.scenarios[0], readFileSync(`${reports}.xml`, 'utf8'), join(dir, 'hostile'), backend);
}

// The scenario failed for the reason, at the step, in JSON and JUnit; nothing of its lab survives: the recorded
// processes, their process groups, the scenario's own process, the lab's directory.
function checkHostile(h: Hostile, result: ScenarioResult, junit: string, fixtures: string, backend: string) {
  expect(result).toMatchObject({ name: h.name, outcome: 'failed' });
  expect(result.error).toMatch(h.message);
  if (h.step) {
    const step = result.steps.find((s) => s.name === h.step);
    expect(step).toMatchObject({ outcome: 'failed' });
    expect(step!.error!.message).toMatch(h.message);
  }
  expect(junit).toContain(`<testsuite name="${h.name}"`);
  const witness = JSON.parse(readFileSync(join(fixtures, `${h.name}.witness.json`), 'utf8')) as {
    lab: string;
    pid: number;
    processes: Array<{ pid: number; startTime: string | null; name: string }>;
    /** A process the scenario's code started itself. */
    helper?: number;
  };
  if (backend === 'local')
    expect(witness.processes.map((p) => p.name).sort()).toEqual(['etcd', 'fake-kms', 'kube-apiserver']);
  expect(witness.processes.filter(isRunning)).toEqual([]);
  expect(witness.processes.filter((p) => !gone(p.pid, true)).map((p) => p.name)).toEqual([]);
  expect(gone(witness.pid), `scenario process ${witness.pid}`).toBe(true);
  if (witness.helper) expect(gone(witness.helper), `its helper ${witness.helper}`).toBe(true);
  expect(existsSync(join(home, 'labs', witness.lab))).toBe(false);
}

describe('hostile scenario code ends as a failed scenario with a report, and leaves nothing running', () => {
  test.each(HOSTILE)('sim: $name', (h) => runHostile('sim', h), 60_000);
  test.each(HOSTILE)('local: $name', (h) => runHostile('local', h), 120_000);

  test('sim: more of the same kinds, in one run of a directory, each failed for its own reason', async () => {
    for (const h of HOSTILE_SIM) file(`hostile-more/${h.name}.scenario.mjs`, witnessed(h.name, h.body));
    const reports = join(dir, 'hostile-more');
    const r = await kmslab(
      ['run', '--backend', 'sim', './hostile-more/', '--step-timeout', '3s', '--parallel', '4'].concat([
        '--json',
        `${reports}.json`,
        '--junit',
        `${reports}.xml`,
      ]),
      { cwd: dir },
    );
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(1);
    expect(r.stderr).not.toMatch(/a kmslab bug|\n\s+at /);
    const report = JSON.parse(readFileSync(`${reports}.json`, 'utf8')) as { scenarios: ScenarioResult[] };
    const junit = readFileSync(`${reports}.xml`, 'utf8');
    expect(junit).toMatch(new RegExp(`<testsuites[^>]* failures="${HOSTILE_SIM.length}"`));
    expect(report.scenarios.map((s) => s.name).sort()).toEqual(HOSTILE_SIM.map((h) => h.name).sort());
    for (const h of HOSTILE_SIM) {
      checkHostile(
        h,
        report.scenarios.find((s) => s.name === h.name)!,
        junit,
        join(dir, 'hostile-more'),
        'sim',
      );
    }
  }, 120_000);
});
