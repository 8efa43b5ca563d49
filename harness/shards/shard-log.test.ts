import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { failedShardLine, frameShardResult, hasShardFrames, readShardLog } from './shard-log.js';

const shard = { index: 2, count: 3 };
// Enough bytes that gzip cannot shrink for several framed lines (hashes of a counter).
const big = Buffer.concat(Array.from({ length: 200 }, (_, i) => createHash('sha256').update(String(i)).digest()));

describe('a framed result read back from a log', () => {
  test('any bytes, any shard, whatever kubectl put before each line, among other lines', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 4000 }),
        fc.integer({ min: 1, max: 256 }).chain((n) => fc.tuple(fc.integer({ min: 1, max: n }), fc.constant(n))),
        fc.constantFrom('', '[pod/kmslab-run-1-x7k2q/kmslab] ', '2026-12-07T18:00:00Z '),
        fc.array(fc.string(), { maxLength: 5 }),
        (bytes, [index, count], prefix, noise) => {
          const lines = frameShardResult(Buffer.from(bytes), { index, count });
          const log = [...noise, ...lines.map((l) => prefix + l), ...noise].join('\n');
          expect(hasShardFrames(log)).toBe(true);
          const read = readShardLog(log, 'pods.log');
          expect(read.notes).toEqual([]);
          expect(read.results.map((r) => [...r.bytes])).toEqual([[...bytes]]);
        },
      ),
    );
  });

  test('results of several pods, one after another or interleaved, each whole; the pod named', () => {
    const a = frameShardResult(big, { index: 1, count: 2 }).map((l) => `[pod/j-0-a/kmslab] ${l}`);
    const b = frameShardResult(Buffer.from('second'), { index: 2, count: 2 }).map((l) => `[pod/j-1-b/kmslab] ${l}`);
    expect(a.length).toBeGreaterThan(4);
    const interleaved = a.flatMap((line, i) => [line, ...(b[i] ? [b[i]] : [])]);
    for (const log of [[...a, ...b], interleaved]) {
      const read = readShardLog(log.join('\r\n'), 'all.log');
      expect(read.results.map((r) => r.bytes.toString('latin1'))).toEqual([big.toString('latin1'), 'second']);
      expect(read.results[1]!.name).toMatch(/^all\.log:\d+ \[pod\/j-1-b\/kmslab\]$/);
    }
  });
});

describe('a result that is not whole is a note naming where, never a result', () => {
  const lines = frameShardResult(big, shard);
  const cases: Array<[string, string[], RegExp]> = [
    ['a data line lost', lines.filter((_, i) => i !== 2), /shard 2\/3 is incomplete: \d+ of its \d+ lines/],
    ['no end line (the pod killed while printing)', lines.slice(0, -1), /no end line/],
    [
      'only the last 10 lines (kubectl logs -l without --tail=-1)',
      lines.slice(-10),
      /^pod\.log:1: part of a shard result whose begin line is not in the log: a log cut short \(read it whole: kubectl logs with a selector shows 10 lines unless --tail=-1/,
    ],
    [
      'a data line altered',
      lines.map((l, i) => (i === 1 ? l.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')) : l)),
      /is damaged|does not unpack/,
    ],
    [
      'other bytes under its begin line (whole gzip, wrong SHA-256)',
      (() => {
        const other = frameShardResult(Buffer.from(big).reverse(), shard);
        const id = other[0]!.split(' ')[3]!;
        return [lines[0]!, ...other.slice(1).map((l) => l.replaceAll(id, lines[0]!.split(' ')[3]!))];
      })(),
      /is damaged: its SHA-256 differs from the one its begin line gives/,
    ],
    ['a damaged begin line', [lines[0]!.replace(/ sha256:.*/, ''), ...lines.slice(1)], /damaged begin line/],
  ];
  test.each(cases)('%s', (_, log, note) => {
    const read = readShardLog(log.join('\n'), 'pod.log');
    expect(read.results).toEqual([]);
    expect(read.notes).toEqual([expect.stringMatching(note)]);
  });

  test('a pod whose kmslab ended without a result says so, with the pod', () => {
    const read = readShardLog(
      `usage error\n[pod/j-2-c/kmslab] ${failedShardLine(shard, 'kmslab exited 2 with no result file')}`,
      'pods.log',
    );
    expect(read.results).toEqual([]);
    expect(read.notes).toEqual([
      "pods.log:2 [pod/j-2-c/kmslab]: shard 2/3 failed before writing its result (kmslab exited 2 with no result file): the pod's log above that line says why",
    ]);
  });

  test('a shard result file itself is not taken for a log', () => {
    expect(hasShardFrames(JSON.stringify({ format: 'kmslab-shard-result', formatVersion: 1 }))).toBe(false);
  });
});
