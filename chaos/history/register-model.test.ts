import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { AnomalyName } from './anomalies.js';
import type { Fn, Operation } from './operation.js';
import { checkRegisters } from './register-model.js';

// ---- histories of one Secret, made by a real register ----
//
// One writer process creates, updates, reads and deletes the Secret one request at a time; other processes read it
// in the gaps (their reads may overlap each other); after recovery it is read once more through each apiserver.
// Every request takes effect at one point of its own interval. An `info` write (timed out, aborted) takes effect at
// any later time — during later requests, after the final reads — or never; a `fail` never does. A create of a
// present Secret or an update of an absent one is refused (409/404: `fail`), as the apiserver does.

interface WriterStep {
  f: Fn;
  gap: number;
  duration: number;
  /** Where in its interval the request takes effect, 0–1. */
  point: number;
  fate: 'answered' | 'info' | 'fail';
  /** For an info write: when it lands after its start (may be long after), or never. */
  landsAfter: number | null;
}

const step = fc.record({
  f: fc.constantFrom<Fn>('create', 'update', 'read', 'delete', 'create', 'update', 'read'),
  gap: fc.integer({ min: 1, max: 40 }),
  duration: fc.integer({ min: 1, max: 30 }),
  point: fc.double({ min: 0, max: 1, noNaN: true }),
  fate: fc.constantFrom<WriterStep['fate']>('answered', 'answered', 'answered', 'info', 'fail'),
  landsAfter: fc.option(fc.integer({ min: 0, max: 400 }), { nil: null, freq: 3 }),
});
const otherRead = fc.record({ gapIndex: fc.nat(), offset: fc.double({ min: 0, max: 1, noNaN: true }) });

const historyArb = (o: { maxSteps?: number; otherReads?: boolean } = {}) =>
  fc
    .record({
      steps: fc.array(step, { minLength: 1, maxLength: o.maxSteps ?? 14 }),
      others:
        o.otherReads === false
          ? fc.constant<Array<{ gapIndex: number; offset: number }>>([])
          : fc.array(otherRead, { maxLength: 6 }),
      finals: fc.integer({ min: 1, max: 2 }),
    })
    .map(simulate);

function simulate({
  steps,
  others,
  finals,
}: {
  steps: WriterStep[];
  others: Array<{ gapIndex: number; offset: number }>;
  finals: number;
}): Operation[] {
  const ops: Operation[] = [];
  const events: Array<{ at: number; seq: number; run: () => void }> = [];
  const at = (when: number, run: () => void) => events.push({ at: when, seq: events.length, run });
  let state: string | null = null;
  const allowed = (f: Fn) => (f === 'create' ? state === null : f === 'update' ? state !== null : true);
  const apply = (op: Operation) => (state = op.f === 'delete' ? null : op.value!);
  const gaps: Array<[number, number]> = [];
  let t = 0;
  steps.forEach((s, i) => {
    const start = t + s.gap;
    gaps.push([t, start]);
    const end = start + s.duration;
    t = end;
    const op: Operation = { process: 0, start, end, apiserver: `a${i % 2}`, f: s.f, key: 'k', type: 'ok' };
    if (s.f === 'create' || s.f === 'update') op.value = `v${i}`;
    ops.push(op);
    const point = start + s.point * s.duration;
    if (s.f === 'read') {
      if (s.fate === 'answered') at(point, () => (state === null ? delete op.value : (op.value = state)));
      else op.type = s.fate;
    } else if (s.fate === 'info') {
      op.type = 'info';
      if (s.landsAfter !== null) at(start + s.landsAfter, () => allowed(op.f) && apply(op));
    } else if (s.fate === 'fail') op.type = 'fail';
    else at(point, () => (allowed(op.f) ? apply(op) : (op.type = 'fail')));
  });
  for (const r of others) {
    const [from, to] = gaps[r.gapIndex % gaps.length]!;
    if (to - from < 2) continue;
    const start = from + r.offset * (to - from - 1);
    const op: Operation = {
      process: 1,
      start,
      end: Math.min(to, start + 5),
      apiserver: 'a1',
      f: 'read',
      key: 'k',
      type: 'ok',
    };
    ops.push(op);
    at((op.start + op.end) / 2, () => (state === null ? delete op.value : (op.value = state)));
  }
  for (let n = 0; n < finals; n++) {
    const op: Operation = {
      process: -1,
      start: t + 1000 + n * 10,
      end: t + 1005 + n * 10,
      apiserver: `a${n}`,
      f: 'read',
      key: 'k',
      type: 'ok',
      final: true,
    };
    ops.push(op);
    at(op.start + 1, () => (state === null ? delete op.value : (op.value = state)));
  }
  for (const e of events.sort((a, b) => a.at - b.at || a.seq - b.seq)) e.run();
  return ops;
}

// ---- an independent judge for small histories: try every way the unknown writes could have landed ----
function linearizable(history: Operation[]): boolean {
  const ops = [...history].sort((a, b) => Number(a.final ?? 0) - Number(b.final ?? 0) || a.start - b.start);
  const seen = ops.filter((op) => op.type === 'ok');
  const unknown = ops.filter((op) => op.type === 'info' && op.f !== 'read');
  const allowed = (f: Fn, v: string | null) => (f === 'create' ? v === null : f === 'update' ? v !== null : true);
  const effect = (op: Operation) => (op.f === 'delete' ? null : op.value!);
  const tried = new Set<string>();
  const search = (pos: number, value: string | null, landed: number): boolean => {
    const id = `${pos}|${value}|${landed}`;
    if (tried.has(id)) return false;
    tried.add(id);
    if (pos === seen.length) return true;
    const e = seen[pos]!;
    for (const [j, w] of unknown.entries()) {
      if (landed & (1 << j) || w.start >= e.end || !allowed(w.f, value)) continue;
      if (search(pos, effect(w), landed | (1 << j))) return true;
    }
    if (e.f === 'read') return (e.value ?? null) === value && search(pos + 1, value, landed);
    return allowed(e.f, value) && search(pos + 1, effect(e), landed);
  };
  return search(0, null, 0);
}

const names = (h: Operation[]) => checkRegisters(h).anomalies.map((a) => a.name);
const readsOverlap = (h: Operation[]) =>
  h.some((a, i) => h.some((b, j) => i !== j && a.f === 'read' && b.f === 'read' && a.start < b.end && b.start < a.end));

describe('the register model, on histories a real register makes', () => {
  test('a history the register made has no anomaly, however its unknown writes landed (or did not)', () => {
    fc.assert(
      fc.property(historyArb(), (h) => {
        expect(checkRegisters(h).anomalies).toEqual([]);
      }),
      { numRuns: 600 },
    );
  });

  test('it flags a history exactly when no order of the unknown writes explains it (against brute force)', () => {
    // Histories from the register, then some of their reads changed to other values (or absent, or a value never
    // written): the model and an exhaustive search must agree on every one.
    const mutated = fc
      .tuple(historyArb({ maxSteps: 9, otherReads: false }), fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 2 }))
      .map(([h, changes]) => {
        const reads = h.filter((op) => op.f === 'read' && op.type === 'ok');
        const values = [undefined, 'never-written', ...h.flatMap((op) => (op.value ? [op.value] : []))];
        for (const [r, v] of changes) {
          if (!reads.length) break;
          const op = reads[r % reads.length]!;
          const value = values[v % values.length];
          if (value === undefined) delete op.value;
          else op.value = value;
        }
        return h;
      })
      .filter((h) => h.filter((op) => op.type === 'info').length <= 6 && !readsOverlap(h));
    let flagged = 0;
    fc.assert(
      fc.property(mutated, (h) => {
        const verdict = checkRegisters(h);
        expect(verdict.approximateKeys).toEqual([]);
        expect(verdict.anomalies.length === 0, JSON.stringify(h)).toBe(linearizable(h));
        if (verdict.anomalies.length) flagged++;
      }),
      { numRuns: 1500 },
    );
    expect(flagged).toBeGreaterThan(100); // both directions were exercised
  });
});

// One property per anomaly the reads can show, both ways: the register's own history is clean, and the same history
// with that one fact broken is flagged under that name.
describe('each read anomaly is found and named', () => {
  const lastAckBefore = (h: Operation[], t: number) =>
    h.filter((op) => op.f !== 'read' && op.type === 'ok' && op.end <= t).sort((a, b) => a.start - b.start);
  const infoDeleteBefore = (h: Operation[], t: number) =>
    h.some((op) => op.f === 'delete' && op.type === 'info' && op.start < t);

  const broken = (
    expected: AnomalyName,
    pick: (h: Operation[]) => { read: Operation; value: string | undefined } | undefined,
  ) => {
    let tried = 0;
    fc.assert(
      fc.property(historyArb(), (h) => {
        expect(names(h)).toEqual([]);
        const change = pick(h);
        fc.pre(change !== undefined);
        tried++;
        if (change!.value === undefined) delete change!.read.value;
        else change!.read.value = change!.value;
        const found = checkRegisters(h).anomalies;
        const at = change!.read.start;
        expect(
          found.some((a) => a.name === expected && a.at === at),
          JSON.stringify({ found, h }),
        ).toBe(true);
      }),
      { numRuns: 300 },
    );
    expect(tried).toBeGreaterThan(30);
  };

  // A read (mid-run or final) whose value an acknowledged write, finished before the read began, had replaced.
  const overwritten = (h: Operation[], read: Operation) => {
    const acks = lastAckBefore(h, read.start);
    const last = acks.at(-1);
    const old = acks.slice(0, -1).filter((w) => w.value !== undefined && w.value !== last?.value);
    return last && old.length ? old[0]!.value : undefined;
  };

  test('stale-read: a mid-run read returns a value an acknowledged write had already replaced', () => {
    broken('stale-read', (h) => {
      for (const read of h.filter((op) => op.f === 'read' && op.type === 'ok' && !op.final)) {
        const value = overwritten(h, read);
        if (value) return { read, value };
      }
      return undefined;
    });
  });

  test('lost-acknowledged-write: after recovery a Secret holds a value an acknowledged write had replaced', () => {
    broken('lost-acknowledged-write', (h) => {
      const read = h.filter((op) => op.final).at(-1)!;
      const value = overwritten(h, read);
      return value ? { read, value } : undefined;
    });
  });

  test('lost-acknowledged-write: after recovery an acknowledged create or update is gone (404)', () => {
    broken('lost-acknowledged-write', (h) => {
      const read = h.filter((op) => op.final).at(-1)!;
      const last = lastAckBefore(h, read.start).at(-1);
      return last && last.f !== 'delete' && !infoDeleteBefore(h, read.start) ? { read, value: undefined } : undefined;
    });
  });

  test('absent-read: a mid-run read gets 404 for a Secret whose create was acknowledged and never deleted', () => {
    broken('absent-read', (h) => {
      for (const read of h.filter((op) => op.f === 'read' && op.type === 'ok' && !op.final)) {
        const last = lastAckBefore(h, read.start).at(-1);
        if (last && last.f !== 'delete' && !infoDeleteBefore(h, read.end)) return { read, value: undefined };
      }
      return undefined;
    });
  });

  test('never-written-read: a read returns a value never written to that Secret', () => {
    broken('never-written-read', (h) => {
      const read = h.find((op) => op.f === 'read' && op.type === 'ok');
      return read && { read, value: 'a-value-nobody-wrote' };
    });
  });

  test('never-written-read: a read returns a value written only after the read ended', () => {
    broken('never-written-read', (h) => {
      for (const read of h.filter((op) => op.f === 'read' && op.type === 'ok' && !op.final)) {
        const later = h.find((w) => w.f !== 'read' && w.value !== undefined && w.start > read.end);
        if (later) return { read, value: later.value };
      }
      return undefined;
    });
  });

  test('failed-write-visible: a read returns the value of a write whose answer proved it was not applied', () => {
    broken('failed-write-visible', (h) => {
      for (const read of h.filter((op) => op.f === 'read' && op.type === 'ok')) {
        const failed = h.find((w) => w.type === 'fail' && w.value !== undefined && w.start < read.end);
        if (failed) return { read, value: failed.value };
      }
      return undefined;
    });
  });
});

describe('cases from the review', () => {
  const op = (o: Partial<Operation> & Pick<Operation, 'f' | 'start'>): Operation => ({
    process: 0,
    end: o.start + 5,
    apiserver: 'a0',
    key: 'k',
    type: 'ok',
    ...o,
  });

  test('a timed-out delete that lands after the next acknowledged update is no lost write', () => {
    const h = [
      op({ f: 'create', start: 0, value: 'x' }),
      op({ f: 'delete', start: 10, end: 20, type: 'info', error: 'timeout' }),
      op({ f: 'read', start: 30, value: 'x' }), // the delete had not landed yet
      op({ f: 'update', start: 40, value: 'y' }),
      op({ f: 'read', start: 100, final: true }), // …and then it did
    ];
    expect(names(h)).toEqual([]);
    // The same history with the delete answered as failed (the old "every HTTP answer is definite") is a loss.
    h[1]!.type = 'fail';
    expect(names(h)).toEqual(['lost-acknowledged-write']);
  });

  test('a mid-run 404 for an acknowledged, never-deleted Secret is an anomaly, not a pass', () => {
    const h = [
      op({ f: 'create', start: 0, value: 'x' }),
      op({ f: 'read', start: 10 }),
      op({ f: 'read', start: 20, value: 'x' }),
      op({ f: 'read', start: 100, final: true, value: 'x' }),
    ];
    expect(checkRegisters(h).anomalies).toMatchObject([{ name: 'absent-read', key: 'k', at: 10 }]);
  });

  test('one fact, one verdict: a Secret lost mid-run and still lost after recovery fails both invariants', () => {
    const h = [
      op({ f: 'create', start: 0, value: 'x' }),
      op({ f: 'read', start: 10 }), // 404: the acknowledged create is gone
      op({ f: 'read', start: 20 }), // the same fact again: not reported twice
      op({ f: 'read', start: 100, final: true }), // …and after recovery it is still gone
    ];
    expect(checkRegisters(h).anomalies).toMatchObject([
      { name: 'absent-read', at: 10 },
      { name: 'lost-acknowledged-write', at: 100, firstSeen: { name: 'absent-read', at: 10 } },
    ]);
  });

  test('an unknown write is seen at most once: once replaced, its value cannot come back', () => {
    const h = [
      op({ f: 'create', start: 0, value: 'x' }),
      op({ f: 'update', start: 10, type: 'info', value: 'y' }),
      op({ f: 'read', start: 20, value: 'y' }), // it landed
      op({ f: 'update', start: 30, value: 'z' }),
      op({ f: 'read', start: 100, final: true, value: 'y' }),
    ];
    expect(names(h)).toEqual(['lost-acknowledged-write']);
  });

  test('writes to one Secret that overlap are refused: the model needs one writer per Secret', () => {
    expect(() =>
      checkRegisters([op({ f: 'create', start: 0, end: 10, value: 'x' }), op({ f: 'update', start: 5, value: 'y' })]),
    ).toThrow(/one writer per Secret/);
  });
});
