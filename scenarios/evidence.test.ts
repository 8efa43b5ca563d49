import fc from 'fast-check';
import { expect, test } from 'vitest';
import { snapshotEvidence } from './evidence.js';

test('any JSON evidence is kept as the reports will hold it, and later changes do not reach the record', () => {
  fc.assert(
    fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (evidence) => {
      const snapshot = snapshotEvidence(evidence);
      expect(snapshot).toEqual({ ok: true, evidence: JSON.parse(JSON.stringify(evidence)) });
      if (snapshot.ok) expect(snapshot.evidence).not.toBe(evidence);
    }),
  );
});

// Any place in the evidence: a cycle back to any ancestor, or a BigInt, is refused, and the message names that place.
test('a cycle or a BigInt anywhere is refused, naming where it is', () => {
  const pathArb = fc.array(fc.oneof(fc.stringMatching(/^[a-z]{1,6}$/), fc.nat({ max: 3 })), {
    minLength: 1,
    maxLength: 5,
  });
  fc.assert(
    fc.property(pathArb, fc.nat(), fc.boolean(), (path, up, bigint) => {
      // Build nested containers along the path: a number step makes an array, a name an object.
      const root: Record<string, unknown> = {};
      const chain: object[] = [root];
      let here: Record<string | number, unknown> = root;
      let shown = 'evidence';
      path.forEach((key, i) => {
        const last = i === path.length - 1;
        const child = (typeof path[i + 1] === 'number' ? [] : {}) as Record<string | number, unknown>;
        if (!last) {
          here[key] = child;
          chain.push(child);
        }
        shown += typeof key === 'number' && Array.isArray(here) ? `[${key}]` : `.${key}`;
        if (last) here[key] = bigint ? 1n : chain[up % chain.length];
        else here = child;
      });
      const snapshot = snapshotEvidence(root);
      expect(snapshot.ok).toBe(false);
      if (!snapshot.ok) {
        expect(snapshot.problem).toContain(shown);
        expect(snapshot.problem).toMatch(bigint ? /is a BigInt/ : /refers back to an object that contains it/);
      }
    }),
  );
});

test('evidence over 1 MiB as JSON is refused with its size', () => {
  expect(snapshotEvidence({ big: 'x'.repeat(1024 * 1024) })).toEqual({
    ok: false,
    problem: expect.stringMatching(/is 1\.0 MiB as JSON; a step may record at most 1 MiB/),
  });
  expect(snapshotEvidence({ fits: 'x'.repeat(1024 * 1024 - 20) }).ok).toBe(true);
});
