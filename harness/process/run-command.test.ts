import { expect, test } from 'vitest';
import { runCommand } from './run-command.js';

test('a command past its timeout is stopped, with its whole group, and the error says it timed out', async () => {
  const t = Date.now();
  // sh starts a grandchild: the group kill must reach it too, or the call would wait for it.
  await expect(runCommand('sh', ['-c', 'sleep 30 & wait'], { timeoutMs: 300 })).rejects.toThrow(/timed out after 0 s/);
  expect(Date.now() - t).toBeLessThan(10_000);
});

test('an aborted command says it was aborted; a failing one gives its exit code and output', async () => {
  const abort = new AbortController();
  setTimeout(() => abort.abort(), 200);
  await expect(runCommand('sleep', ['30'], { signal: abort.signal })).rejects.toThrow(/\(aborted\)/);
  await expect(runCommand('sh', ['-c', 'echo nope >&2; exit 3'])).rejects.toThrow(/exit 3\):\nnope/);
});
