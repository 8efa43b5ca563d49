import type { RunEvent } from '../scenarios/index.js';

const secs = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

/** A step running this long without a wait of its own to show gets a "still running" line. */
const QUIET_MS = 10_000;
/** Off a terminal, a live line is printed at most this often per scenario, so CI logs stay short. */
const LOG_EVERY_MS = 30_000;

/**
 * runProgress renders scenario events as they happen: a line per step, a live countdown for long waits, and a
 * "still running" line for a long step that has no wait to count down (thousands of Secrets being written), so a
 * long run never looks stuck. Live lines are rewritten in place on a terminal, and printed every 30 s otherwise.
 */
export function runProgress(out: NodeJS.WriteStream = process.stderr): (event: RunEvent) => void {
  const tty = out.isTTY === true;
  let liveLine = false;
  const lastLive = new Map<string, number>();
  // Per scenario: the step in progress, when it began, and when it last showed a sign of life.
  const running = new Map<string, { step: string; since: number; heard: number }>();
  const line = (text: string) => {
    if (liveLine) out.write('\r\u001b[2K');
    liveLine = false;
    out.write(`${text}\n`);
  };
  const live = (scenario: string, text: string) => {
    if (tty) {
      out.write(`\r\u001b[2K${text}`);
      liveLine = true;
    } else if (Date.now() - (lastLive.get(scenario) ?? 0) > LOG_EVERY_MS) {
      lastLive.set(scenario, Date.now());
      line(text);
    }
  };
  // Ticks only while a step runs; unref'd, it never keeps kmslab alive.
  let heartbeat: NodeJS.Timeout | undefined;
  const tick = () => {
    const now = Date.now();
    if (running.size === 0) heartbeat = void clearInterval(heartbeat);
    for (const [scenario, r] of running) {
      if (now - r.heard >= QUIET_MS)
        live(scenario, `  … ${scenario}: ${r.step} still running (${secs(now - r.since)})`);
    }
  };
  return (e) => {
    switch (e.type) {
      case 'scenario-start':
        line(`▸ ${e.scenario}: starting a lab`);
        break;
      case 'lab-ready':
        line(`  ${e.scenario}: lab ${e.lab} ready in ${e.seconds.toFixed(1)}s`);
        break;
      case 'step-start':
        running.set(e.scenario, { step: e.step, since: Date.now(), heard: Date.now() });
        heartbeat ??= setInterval(tick, 1000).unref();
        break;
      case 'step-end':
        running.delete(e.scenario);
        line(
          `  ${e.step.outcome === 'passed' ? '✓' : '✗'} ${e.scenario}: ${e.step.name} (${secs(e.step.durationMs)})${
            e.step.error ? `\n      ${e.step.error.message.split('\n')[0]}` : ''
          }`,
        );
        break;
      case 'waiting': {
        const r = running.get(e.scenario);
        if (r) r.heard = Date.now();
        live(
          e.scenario,
          `  … ${e.scenario}: waiting for ${e.what} (${Math.max(0, Math.ceil(e.remainingMs / 1000))}s left)`,
        );
        break;
      }
      case 'scenario-end':
        running.delete(e.scenario);
        line(
          e.result.outcome === 'skipped'
            ? `- ${e.scenario} skipped: ${e.result.skipped}`
            : `${e.result.outcome === 'passed' ? '✓' : '✗'} ${e.scenario} ${e.result.outcome} in ${secs(e.result.durationMs)}`,
        );
        break;
    }
  };
}
