import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { checkExternalPlugin, externalLacks, type ExternalPlugin } from '../harness/kms/index.js';
import { runScenarios, type LabFactory, type RunReport, type Scenario } from '../scenarios/index.js';
import type { KmsCapability } from '../harness/lab.js';
import { runChecks, type CheckResult } from './check-runner.js';
import type { CloudCheckBackend } from './cloud-backend.js';
import { conformanceVerdict, isFatal } from './report-verdict.js';
import { ExternalPluginSession } from './plugin-session.js';
import { shardChecks } from './shard-checks.js';

export type { CheckResult } from './check-runner.js';

export interface ConformanceOptions {
  plugin: ExternalPlugin;
  /** Scenarios to run on real labs through the proxy (none: protocol and lifecycle checks only). */
  scenarios: Scenario[];
  /** Starts a lab for a scenario; the caller passes the plugin and its own lab options. */
  makeLab: LabFactory;
  /** Recommended checks count as failures. */
  strict?: boolean;
  /** Required checks that were skipped or not run count as failures (else the report says "not fully checked"). */
  requireAll?: boolean;
  /** Stop at the first failure that counts. */
  failFast?: boolean;
  /** How long a hook may take to show in the plugin's answers (plugins cache key state). Default 60 s. */
  settleMs?: number;
  /** Scenarios at once (default 1: labs of one external plugin may share its key store). */
  parallel?: number;
  /**
   * Where the run keeps its logs — the plugin's output (`kms-plugin.log`), the hooks' (`kms-hooks.log`) and failed
   * scenarios' labs — never deleted. Default `artifacts/conformance-<time>` in the working directory.
   */
  artifactsDir?: string;
  onResult?: (result: CheckResult) => void;
  signal?: AbortSignal;
  /**
   * Only these checks are reported — a shard's cells: check ids, and `scenario-<name>` for the scenarios (pass
   * those in `scenarios`). The checks before them run first, unreported (shardChecks says why). Default: all.
   */
  only?: ReadonlySet<string>;
  /** The cloud KMS behind the plugin (`--cloud`): the backend checks run against it; without one they are skipped. */
  backend?: CloudCheckBackend;
}

export interface ConformanceReport {
  startedAt: string;
  durationMs: number;
  plugin: { command?: string; socket?: string; hooks: string[] };
  strict: boolean;
  requireAll: boolean;
  outcome: 'passed' | 'failed';
  counts: Record<'required' | 'recommended', Record<CheckResult['outcome'], number>>;
  /** Required checks that were skipped or not run, and why: a pass is then not a full one. */
  notChecked: Array<{ id: string; why: string }>;
  /** Where the logs are. */
  artifacts: string;
  pluginLog?: string;
  checks: CheckResult[];
  scenarios?: RunReport;
}

export { isFatal };

/**
 * runConformance holds a KMS v2 plugin to the rules: protocol checks on its own socket, lifecycle checks through
 * its hooks, then scenarios on real labs with the plugin behind the proxy. A check that needs a hook the user did
 * not give is skipped and says so — never passed; a pass with required checks skipped or not run says it is not a
 * full one (`notChecked`), and with `requireAll` it is a failure.
 */
export async function runConformance(options: ConformanceOptions): Promise<ConformanceReport> {
  const started = Date.now();
  const plugin = options.plugin;
  checkExternalPlugin(plugin);
  const strict = options.strict ?? false;
  const hooks = externalLacks(plugin);
  const backend = options.backend;
  const lacks = (c: KmsCapability) => (backend && c.startsWith('cloud-') ? backend.lacks(c) : hooks(c));
  const artifacts = resolve(
    options.artifactsDir ?? join('artifacts', `conformance-${new Date(started).toISOString().replace(/[:.]/g, '-')}`),
  );
  await mkdir(artifacts, { recursive: true, mode: 0o700 });
  const results: CheckResult[] = [];
  // Checks a shard runs only to reach its own in the same state as a whole run: not reported.
  const groundwork: CheckResult[] = [];
  const reported = (id: string) => !options.only || options.only.has(id);
  const record = (r: CheckResult) => {
    if (!reported(r.id)) {
      groundwork.push(r);
      return;
    }
    results.push(r);
    options.onResult?.(r);
  };
  const stop = () =>
    Boolean(
      options.signal?.aborted || (options.failFast && [...results, ...groundwork].some((r) => isFatal(r, strict))),
    );
  const phases = shardChecks(reported);

  // The socket lives in a short private directory of its own (unix socket paths are limited to 108 bytes).
  const socketDir = await mkdtemp(join(tmpdir(), 'kmslab-conformance-'));
  const session = new ExternalPluginSession(plugin, { socketDir, logDir: artifacts });
  try {
    if (phases.some(([, checks]) => checks.length)) await session.start();
    await runChecks(session, {
      phases,
      lacks,
      ...(backend ? { backend } : {}),
      settleMs: options.settleMs ?? 60_000,
      ...(options.signal ? { signal: options.signal } : {}),
      stop,
      onResult: record,
    });
  } finally {
    await session.close();
    await rm(socketDir, { recursive: true, force: true });
  }

  let scenarios: RunReport | undefined;
  if (options.scenarios.length && !stop()) {
    scenarios = await runScenarios(options.scenarios, options.makeLab, {
      // The scenarios' labs run the plugin behind the proxy, not the cloud's controls: those stay the checks'.
      lacks: hooks,
      parallel: options.parallel ?? 1,
      backend: 'local',
      artifactsDir: artifacts,
      ...(options.signal ? { signal: options.signal } : {}),
      onEvent: (e) => {
        if (e.type !== 'scenario-end') return;
        const s = e.result;
        const failed = s.steps.find((st) => st.outcome === 'failed');
        record({
          id: `scenario-${s.name}`,
          title: s.summary,
          phase: 'scenario',
          level: 'required',
          source: `kmslab scenario ${s.name}: ${s.proves}`,
          outcome: s.outcome,
          ...(s.outcome === 'skipped'
            ? { message: s.skipped! }
            : s.outcome === 'failed'
              ? { message: `${failed ? `at "${failed.name}": ${failed.error?.message}` : s.error}` }
              : {}),
          durationMs: s.durationMs,
        });
      },
    });
  }

  const verdict = conformanceVerdict(results, {
    strict,
    requireAll: options.requireAll ?? false,
    cutShort: Boolean(options.signal?.aborted),
  });
  return {
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    plugin: {
      ...(plugin.command ? { command: plugin.command } : {}),
      ...(plugin.socket ? { socket: plugin.socket } : {}),
      hooks: Object.keys(plugin.hooks ?? {}),
    },
    strict,
    requireAll: options.requireAll ?? false,
    ...verdict,
    artifacts,
    ...(session.pluginLog ? { pluginLog: session.pluginLog } : {}),
    checks: results,
    ...(scenarios ? { scenarios } : {}),
  };
}
