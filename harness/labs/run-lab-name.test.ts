import fc from 'fast-check';
import { expect, test } from 'vitest';
import { checkLabName } from './registry.js';
import { runLabName } from './run-lab-name.js';

const stamp = Date.now().toString(36);

test('labels sharing their first 22 characters get different lab names', () => {
  const a = runLabName('ha-disabled-key-writes-go-on', stamp);
  const b = runLabName('ha-disabled-key-writes-stop', stamp);
  expect(a).not.toBe(b);
  expect(a.startsWith('ha-disabled-key-w')).toBe(true);
});

test('a short label is kept as it is', () => {
  expect(runLabName('rotate', 'abc')).toBe('rotate-abc');
  expect(runLabName('c-kms-outage', 'abc')).toBe('c-kms-outage-abc');
});

test('every label gives a valid lab name, distinct for distinct labels', () => {
  const label = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,60}$/);
  fc.assert(
    fc.property(label, label, (x, y) => {
      const [nx, ny] = [runLabName(x, stamp), runLabName(y, stamp)];
      expect(() => checkLabName(nx)).not.toThrow();
      if (x.replace(/-+/g, '-').replace(/-$/, '') !== y.replace(/-+/g, '-').replace(/-$/, '')) expect(nx).not.toBe(ny);
    }),
    { numRuns: 2000 },
  );
});
