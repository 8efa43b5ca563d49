import type { RunEvent } from '../scenarios/index.js';

const secs = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

/**
 * runProgress renders scenario events as they happen: a line per step, and a live countdown for long waits
 * (rewritten in place on a terminal, every 30 s otherwise, so CI logs stay short).
 */
export function runProgress(out: NodeJS.WriteStream = process.stderr): (event: RunEvent) => void {
  const tty = out.isTTY === true;
  let waitLine = false;
  const lastWaitPrint = new Map<string, number>();
  const line = (text: string) => {
    if (waitLine) out.write('\r\u001b[2K');
    waitLine = false;
    out.write(`${text}\n`);
  };
  return (e) => {
    switch (e.type) {
      case 'scenario-start':
        line(`▸ ${e.scenario}: starting a lab`);
        break;
      case 'lab-ready':
        line(`  ${e.scenario}: lab ${e.lab} ready in ${e.seconds.toFixed(1)}s`);
        break;
      case 'step-end':
        line(
          `  ${e.step.outcome === 'passed' ? '✓' : '✗'} ${e.scenario}: ${e.step.name} (${secs(e.step.durationMs)})${
            e.step.error ? `\n      ${e.step.error.message.split('\n')[0]}` : ''
          }`,
        );
        break;
      case 'waiting': {
        const text = `  … ${e.scenario}: waiting for ${e.what} (${Math.max(0, Math.ceil(e.remainingMs / 1000))}s left)`;
        if (tty) {
          out.write(`\r\u001b[2K${text}`);
          waitLine = true;
        } else if (Date.now() - (lastWaitPrint.get(e.scenario) ?? 0) > 30_000) {
          lastWaitPrint.set(e.scenario, Date.now());
          line(text);
        }
        break;
      }
      case 'scenario-end':
        line(
          e.result.outcome === 'skipped'
            ? `- ${e.scenario} skipped: ${e.result.skipped}`
            : `${e.result.outcome === 'passed' ? '✓' : '✗'} ${e.scenario} ${e.result.outcome} in ${secs(e.result.durationMs)}`,
        );
        break;
    }
  };
}
