import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { BuildProgress } from '../harness/binaries/index.js';

/** Where progress goes: stderr, so stdout stays clean for --json. */
export const say = (message: string) => process.stderr.write(`${message}\n`);

export const printJson = (value: unknown): void => {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
};

/**
 * buildProgress turns Go build events into a few readable lines: downloads and compile counts at most every
 * 15 s (a cold kube-apiserver build compiles ~2,000 packages over several minutes).
 */
export function buildProgress(): (event: BuildProgress) => void {
  let last = 0;
  let announced = false;
  return (event) => {
    if (!announced) {
      say(
        `▸ building ${event.component} ${event.version} from pinned Go modules (first use on this machine; cached after)`,
      );
      announced = true;
    }
    const now = Date.now();
    if (event.phase === 'done' || event.phase === 'module') say(`  ${event.message}`);
    else if (now - last > 15_000) {
      last = now;
      say(
        event.phase === 'compile' ? `  ${event.component}: ${event.packages} packages compiled` : `  ${event.message}`,
      );
    }
  };
}

/** table renders rows as aligned columns. */
export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** writeReport writes a report file (making its directory) and says where it went. */
export async function writeReport(file: string, text: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, text);
  say(`wrote ${file}`);
}
