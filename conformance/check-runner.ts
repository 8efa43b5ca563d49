import type { KmsCapability } from '../harness/lab.js';
import {
  fail,
  Interrupted,
  notRun,
  PluginDied,
  type Check,
  type CheckClock,
  type CheckContext,
  type PluginDeath,
  type PluginUnderTest,
  type Verdict,
} from './check.js';
import { BACKEND_CHECKS, type CheckBackend } from './backend-checks.js';
import { HOOK_CHECKS } from './lifecycle-checks.js';
import { PROTOCOL_CHECKS } from './protocol-checks.js';

/** The phases of checks on the plugin itself, in run order (the scenarios come after, on labs). */
export type CheckPhase = 'protocol' | 'lifecycle' | 'backend';

export interface CheckResult {
  id: string;
  title: string;
  phase: CheckPhase | 'scenario';
  level: 'required' | 'recommended';
  source: string;
  /** `not-run`: the check could not reach a verdict because another failed, or the plugin had died. */
  outcome: 'passed' | 'failed' | 'skipped' | 'not-run';
  /** Why it failed (what was seen), was skipped (what is missing) or was not run (which check stopped it). */
  message?: string;
  /** What a passed check wants the user to know anyway (e.g. what the plugin's failure style does to writes). */
  note?: string;
  /** not-run: the check whose failure, or the plugin's death in it, kept this one from running. */
  because?: string;
  /** The plugin died while this check ran. */
  died?: PluginDeath;
  /** kmslab restarted the plugin before this check, and why. */
  restarted?: string;
  evidence?: Record<string, unknown>;
  durationMs: number;
}

/**
 * PluginSession is the plugin under test as the checks drive it: calls on its socket (a call that finds it gone
 * throws PluginDied), its hooks, and its process — restarted when kmslab can, and watched for an unplanned end.
 */
export interface PluginSession {
  plugin: PluginUnderTest;
  hook(name: 'rotate' | 'disable' | 'enable', keyId: string): Promise<void>;
  canRestart: boolean;
  /** restart stops the plugin (if it runs) and starts it again; it resolves once the plugin answers. */
  restart(): Promise<void>;
  /** death says whether the plugin has died, waiting up to `graceMs` for an end that may be under way. */
  death(graceMs: number): Promise<PluginDeath | undefined>;
}

export interface CheckRunOptions {
  lacks: (c: KmsCapability) => string | undefined;
  settleMs: number;
  pollMs?: number;
  clock?: CheckClock;
  signal?: AbortSignal;
  /** Checked before each check: true ends the run (fail-fast, Ctrl-C). */
  stop?: (results: CheckResult[]) => boolean;
  onResult?: (result: CheckResult) => void;
  /** Default: the protocol checks, then the lifecycle checks, then the backend checks. */
  phases?: Array<[CheckPhase, Check[]]>;
  /** The cloud behind the plugin, for the backend checks. */
  backend?: CheckBackend;
}

const REAL_CLOCK: CheckClock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

const unfinished = (r: CheckResult | undefined) => r?.outcome === 'failed' || r?.outcome === 'not-run';

/**
 * runChecks runs the protocol checks, then the lifecycle checks, against a plugin session. A check whose plugin
 * dies fails, naming the death (exit code or signal, the end of its log); after it, protocol checks are not run,
 * and the plugin is restarted (when kmslab can) before each lifecycle check. A check whose groundwork (`after`)
 * failed is not run, and says which; a not-run that nothing failed to explain is turned into a failure.
 */
export async function runChecks(session: PluginSession, options: CheckRunOptions): Promise<CheckResult[]> {
  const clock = options.clock ?? REAL_CLOCK;
  const results: CheckResult[] = [];
  const byId = new Map<string, CheckResult>();
  const record = (r: CheckResult) => {
    results.push(r);
    byId.set(r.id, r);
    options.onResult?.(r);
  };
  const ctx: CheckContext = {
    plugin: session.plugin,
    hook: (name, keyId) => session.hook(name, keyId),
    restart: () => session.restart(),
    canRestart: session.canRestart,
    seenKeyIds: [],
    settleMs: options.settleMs,
    pollMs: options.pollMs ?? 1000,
    clock,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.backend ? { backend: options.backend } : {}),
    current: '',
  };
  // The plugin has died (in check `in`) and has not been started again; `restartFailed` says why it could not be.
  let dead: { in: string; death: PluginDeath; restartFailed?: string } | undefined;

  for (const [phase, checks] of options.phases ?? [
    ['protocol', PROTOCOL_CHECKS],
    ['lifecycle', HOOK_CHECKS],
    ['backend', BACKEND_CHECKS],
  ]) {
    for (const check of checks) {
      if (options.signal?.aborted || options.stop?.(results)) return settleNotRun(results, byId);
      const base = { id: check.id, title: check.title, phase, level: check.level, source: check.source };
      // Several capabilities often lack for one reason (no cloud behind the plugin): say it once.
      const missing = [...new Set((check.needs ?? []).map((c) => options.lacks(c)).filter(Boolean))];
      if (missing.length) {
        record({ ...base, outcome: 'skipped', message: missing.join('; '), durationMs: 0 });
        continue;
      }
      const blocker = check.after?.map((id) => byId.get(id)).find((r) => unfinished(r) || r?.outcome === 'skipped');
      if (blocker) {
        const why =
          blocker.outcome === 'failed' ? 'failed' : blocker.outcome === 'skipped' ? 'was skipped' : 'could not run';
        record({
          ...base,
          outcome: 'not-run',
          because: blocker.id,
          message: `not run: it builds on ${blocker.id}, which ${why}`,
          durationMs: 0,
        });
        continue;
      }
      let restarted: string | undefined;
      if (dead) {
        const was = dead;
        if (phase !== 'protocol' && session.canRestart && !was.restartFailed) {
          try {
            await session.restart();
            restarted = `kmslab restarted the plugin first: it had died in ${was.in} (${was.death.how})`;
            dead = undefined;
          } catch (error) {
            was.restartFailed = (error as Error).message;
          }
        }
        if (dead) {
          record({
            ...base,
            outcome: 'not-run',
            because: dead.in,
            message: `not run: the plugin died in ${dead.in} (${dead.death.how})${dead.restartFailed ? ` and did not start again: ${dead.restartFailed}` : phase === 'protocol' ? '' : ' and kmslab cannot restart it (--restart-cmd)'}`,
            durationMs: 0,
          });
          continue;
        }
      }
      // A plugin that died between two checks (a crash after it answered) is found before the next one starts.
      const before = dead ? undefined : await session.death(0);
      if (before) {
        dead = { in: check.id, death: before };
        record({
          ...base,
          outcome: 'failed',
          message: deathMessage(before).replace('died during this check', 'had died before this check began'),
          died: before,
          durationMs: 0,
        });
        continue;
      }
      ctx.current = check.id;
      const started = clock.now();
      let verdict: Verdict | undefined;
      let died: PluginDeath | undefined;
      try {
        verdict = await check.run(ctx);
      } catch (error) {
        if (error instanceof PluginDied) died = error.death;
        else if (error instanceof Interrupted || options.signal?.aborted)
          verdict = notRun('interrupted', 'not run to its end: interrupted');
        else verdict = fail(`the check could not run: ${(error as Error).message}`);
      }
      died ??= await session.death(verdict?.outcome === 'passed' ? 0 : 1000);
      const durationMs = Math.round(clock.now() - started);
      if (died) {
        dead = { in: check.id, death: died };
        record({
          ...base,
          outcome: 'failed',
          message: deathMessage(died),
          died,
          ...(restarted ? { restarted } : {}),
          evidence: {
            ...(verdict?.evidence ?? {}),
            ...(verdict && 'message' in verdict ? { checkSaw: verdict.message } : {}),
          },
          durationMs,
        });
        continue;
      }
      const v = verdict!;
      record({
        ...base,
        outcome: v.outcome,
        ...(v.outcome === 'passed' ? (v.note ? { note: v.note } : {}) : { message: v.message }),
        ...(v.outcome === 'not-run' ? { because: v.because } : {}),
        ...(restarted ? { restarted } : {}),
        ...(v.evidence ? { evidence: v.evidence } : {}),
        durationMs,
      });
    }
  }
  return settleNotRun(results, byId);
}

// A plugin's death, as a check's failure: how it ended, the line that says why, and where its whole log is.
function deathMessage(d: PluginDeath): string {
  const why = [...d.lastLines].reverse().find((l) => /panic|fatal|error|exception|killed|abort/i.test(l));
  const last = why ?? d.lastLines.filter((l) => l.trim()).at(-1);
  return `the plugin died during this check (${d.how})${last ? `; its log says: ${last.trim()}` : ''}${d.logFile ? ` — whole log: ${d.logFile}` : ''}`;
}

// A not-run must be explained by a check that failed or could not run itself (or by an interruption). One that is
// not — its cause passed — is a plugin that behaved differently the second time: that is a failure.
function settleNotRun(results: CheckResult[], byId: Map<string, CheckResult>): CheckResult[] {
  for (const r of results) {
    if (r.outcome !== 'not-run' || r.because === 'interrupted') continue;
    const cause = byId.get(r.because!);
    if (cause && !unfinished(cause)) {
      r.outcome = 'failed';
      r.message = `${r.message} — yet ${cause.id} ${cause.outcome}: the plugin did not behave the same way twice`;
    }
  }
  return results;
}
