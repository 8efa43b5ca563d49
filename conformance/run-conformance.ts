import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { externalLacks } from '../harness/backends/common/control-kms.js';
import {
  checkExternalPlugin,
  ExternalPluginProcess,
  pluginAnswers,
  runHook,
  type ExternalPlugin,
} from '../harness/backends/common/external-plugin.js';
import { poll } from '../harness/common/wait.js';
import type { KmsCapability } from '../harness/lab.js';
import { UpstreamPlugin } from '../proxy/index.js';
import { runScenarios, type LabFactory, type RunReport, type Scenario } from '../scenarios/index.js';
import { HOOK_CHECKS, PROTOCOL_CHECKS, type Check, type CheckContext } from './checks.js';

export interface ConformanceOptions {
  plugin: ExternalPlugin;
  /** Scenarios to run on real labs through the proxy (none: protocol and lifecycle checks only). */
  scenarios: Scenario[];
  /** Starts a lab for a scenario; the caller passes the plugin and its own lab options. */
  makeLab: LabFactory;
  /** Recommended checks count as failures. */
  strict?: boolean;
  /** Stop at the first failure that counts. */
  failFast?: boolean;
  /** How long a hook may take to show in the plugin's answers (plugins cache key state). Default 60 s. */
  settleMs?: number;
  /** Scenarios at once (default 1: labs of one external plugin may share its key store). */
  parallel?: number;
  onResult?: (result: CheckResult) => void;
  signal?: AbortSignal;
}

export interface CheckResult {
  id: string;
  title: string;
  phase: 'protocol' | 'lifecycle' | 'scenario';
  level: 'required' | 'recommended';
  source: string;
  outcome: 'passed' | 'failed' | 'skipped';
  /** Why it failed (what was seen), or why it was skipped (what is missing). */
  message?: string;
  evidence?: Record<string, unknown>;
  durationMs: number;
}

export interface ConformanceReport {
  startedAt: string;
  durationMs: number;
  plugin: { command?: string; socket?: string; hooks: string[] };
  strict: boolean;
  outcome: 'passed' | 'failed';
  counts: Record<'required' | 'recommended', Record<CheckResult['outcome'], number>>;
  checks: CheckResult[];
  scenarios?: RunReport;
}

/**
 * runConformance holds a KMS v2 plugin to the rules: protocol checks on its own socket, lifecycle checks through
 * its hooks, then scenarios on real labs with the plugin behind the proxy. A check that needs a hook the user did
 * not give is skipped and says so — never passed.
 */
export async function runConformance(options: ConformanceOptions): Promise<ConformanceReport> {
  const started = Date.now();
  const plugin = options.plugin;
  checkExternalPlugin(plugin);
  const lacks = externalLacks(plugin);
  const results: CheckResult[] = [];
  const counts = (r: CheckResult) =>
    r.outcome === 'failed' && (r.level === 'required' || options.strict) ? 'fatal' : 'fine';
  const record = (r: CheckResult) => {
    results.push(r);
    options.onResult?.(r);
  };
  const stop = () => options.signal?.aborted || (options.failFast && results.some((r) => counts(r) === 'fatal'));

  const work = await mkdtemp(join(tmpdir(), 'kmslab-conformance-'));
  const hooksLog = join(work, 'hooks.log');
  const socket = plugin.socket ?? join(work, 'plugin', 'kms.sock');
  const proc = plugin.command ? new ExternalPluginProcess(work, socket, plugin.command) : undefined;
  const client = new UpstreamPlugin(socket, 3_000);
  try {
    if (proc) {
      await mkdir(join(work, 'logs'));
      await mkdir(join(work, 'plugin'), { mode: 0o700 });
      await proc.start();
    } else {
      await poll(pluginAnswers(socket), { timeoutMs: 30_000, intervalMs: 250, what: `a KMS v2 plugin on ${socket}` });
    }
    const ctx: CheckContext = {
      plugin: client,
      seenKeyIds: [],
      settleMs: options.settleMs ?? 60_000,
      hook: (name, keyId) => runHook(name, plugin.hooks![name]!, { socket, keyId }, hooksLog),
      restart: async () => {
        if (proc) {
          await proc.crash();
          await proc.start();
        } else {
          await runHook('restart', plugin.restartCommand!, { socket }, hooksLog);
          await poll(pluginAnswers(socket), { timeoutMs: 60_000, intervalMs: 250, what: `the plugin on ${socket}` });
        }
      },
    };
    for (const [phase, checks] of [
      ['protocol', PROTOCOL_CHECKS],
      ['lifecycle', HOOK_CHECKS],
    ] as const) {
      for (const check of checks) {
        if (stop()) break;
        record(await runCheck(check, phase, ctx, lacks));
      }
    }
  } finally {
    client.close();
    await proc?.stop();
    await rm(work, { recursive: true, force: true });
  }

  let scenarios: RunReport | undefined;
  if (options.scenarios.length && !stop()) {
    scenarios = await runScenarios(options.scenarios, options.makeLab, {
      lacks,
      parallel: options.parallel ?? 1,
      backend: 'local',
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

  const tally = (level: CheckResult['level']) => ({
    passed: results.filter((r) => r.level === level && r.outcome === 'passed').length,
    failed: results.filter((r) => r.level === level && r.outcome === 'failed').length,
    skipped: results.filter((r) => r.level === level && r.outcome === 'skipped').length,
  });
  return {
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    plugin: {
      ...(plugin.command ? { command: plugin.command } : {}),
      ...(plugin.socket ? { socket: plugin.socket } : {}),
      hooks: Object.keys(plugin.hooks ?? {}),
    },
    strict: options.strict ?? false,
    outcome: results.some((r) => counts(r) === 'fatal') || options.signal?.aborted ? 'failed' : 'passed',
    counts: { required: tally('required'), recommended: tally('recommended') },
    checks: results,
    ...(scenarios ? { scenarios } : {}),
  };
}

async function runCheck(
  check: Check,
  phase: CheckResult['phase'],
  ctx: CheckContext,
  lacks: (c: KmsCapability) => string | undefined,
): Promise<CheckResult> {
  const base = { id: check.id, title: check.title, phase, level: check.level, source: check.source };
  const missing = (check.needs ?? []).map((c) => lacks(c)).filter(Boolean);
  if (missing.length) return { ...base, outcome: 'skipped', message: missing.join('; '), durationMs: 0 };
  const t = Date.now();
  try {
    const v = await check.run(ctx);
    return {
      ...base,
      outcome: v.ok ? 'passed' : 'failed',
      ...(v.ok ? {} : { message: v.message }),
      ...(v.evidence ? { evidence: v.evidence } : {}),
      durationMs: Date.now() - t,
    };
  } catch (error) {
    return {
      ...base,
      outcome: 'failed',
      message: `the check could not run: ${(error as Error).message}`,
      durationMs: Date.now() - t,
    };
  }
}
