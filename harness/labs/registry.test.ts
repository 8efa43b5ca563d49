import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { writeLab, type LabRecord } from './registry.js';

describe('writeLab', () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

  test('writes at once (apiservers restarted together) all land, the last state wins, no temp file is left', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kmslab-registry-'));
    dirs.push(dir);
    const record = { name: 'x', dir, processes: [] as { pid: number }[] } as unknown as LabRecord;
    await Promise.all(
      Array.from({ length: 8 }, (_, i) => {
        (record.processes as unknown as { pid: number }[]).push({ pid: i });
        return writeLab(record);
      }),
    );
    const written = JSON.parse(readFileSync(join(dir, 'lab.json'), 'utf8')) as { processes: { pid: number }[] };
    expect(written.processes.map((p) => p.pid)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(readdirSync(dir)).toEqual(['lab.json']);
  });
});
