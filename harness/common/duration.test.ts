import { expect, test } from 'vitest';
import { durationOrNaN, formatDuration, parseDuration } from './duration.js';

test('reads what Go time.ParseDuration reads, plus days', () => {
  expect(durationOrNaN('3s')).toBe(3000);
  expect(durationOrNaN('1m30s')).toBe(90_000);
  expect(durationOrNaN('1.5h')).toBe(5_400_000);
  expect(durationOrNaN('500ms')).toBe(500);
  expect(durationOrNaN('.5s')).toBe(500);
  expect(durationOrNaN('1.s')).toBe(1000);
  expect(durationOrNaN('1500us')).toBeCloseTo(1.5);
  expect(durationOrNaN('2µs')).toBeCloseTo(0.002);
  expect(durationOrNaN('0')).toBe(0);
  expect(durationOrNaN('-3s')).toBe(-3000);
  expect(durationOrNaN('7d')).toBe(7 * 86_400_000);
  expect(durationOrNaN('7d', true)).toBeNaN();
});

test('refuses what Go refuses', () => {
  for (const bad of ['', '3', 's', '3 s', '3S', '1m 30s', '1e3s', '3sec', '--3s', '.s', '1m30', 'nan', 'Infinity'])
    expect(durationOrNaN(bad), bad).toBeNaN();
  expect(durationOrNaN(`${'9'.repeat(400)}h`)).toBeNaN();
});

test('parseDuration names the flag, the limit and gives examples', () => {
  expect(() => parseDuration('soon', { what: '--duration' })).toThrow(
    /--duration "soon" is not a duration; write e\.g\. 90s/,
  );
  expect(() => parseDuration('0s', { what: '--duration' })).toThrow(/must be above 0/);
  expect(() => parseDuration('9999999d', { what: '--duration', maxMs: 30 * 86_400_000 })).toThrow(
    /--duration "9999999d" is too long: the most is 30d/,
  );
  expect(() => parseDuration('1ms', { what: '--every', minMs: 100 })).toThrow(/the least is 100ms/);
  expect(parseDuration('1m30s', { what: 'kms.timeout', go: true })).toBe(90_000);
  expect(() => parseDuration('1d', { what: 'kms.timeout', go: true })).toThrow(/not a duration/);
  expect(() => parseDuration('x'.repeat(10_000), { what: '--duration' })).toThrow(/"x{40}…" is not/);
});

test('formatDuration writes it back short', () => {
  expect(formatDuration(90_000)).toBe('1m30s');
  expect(formatDuration(86_400_000)).toBe('1d');
  expect(formatDuration(1500)).toBe('1.5s');
  expect(formatDuration(250)).toBe('250ms');
  expect(formatDuration(0)).toBe('0s');
  for (const ms of [1, 999, 1000, 61_000, 3_600_000 + 1, 90 * 86_400_000])
    expect(durationOrNaN(formatDuration(ms))).toBeCloseTo(ms);
});
