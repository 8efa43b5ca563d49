import type { InspectRow } from './coverage.js';
import { describeFailOn, meets, type FailOn } from './fail-on.js';

/** RowCheck is a condition given as a test of its own (e.g. `config`: stored otherwise than a config claims). */
export interface RowCheck {
  kind: 'check';
  name: string;
  meets(row: InspectRow): boolean;
}

/** OffendingKey is a value that meets a --fail-on condition: its key exactly (base64) and as UTF-8 text. */
export interface OffendingKey {
  /** The key read as UTF-8 (bytes that are not UTF-8 become U+FFFD): for reading, not for finding the key. */
  key: string;
  /** The key's exact bytes: what etcdctl or a program needs to find it. */
  keyBase64: string;
  condition: string;
  class: string;
  reason?: string;
}

/** GateCase is one condition on one resource: how many values were checked, how many met it, and which. */
export interface GateCase {
  condition: string;
  resource: string;
  values: number;
  offending: number;
  /** The first offending keys (at most the gate's `perCase`). */
  keys: OffendingKey[];
}

/**
 * Gate checks each row read against the --fail-on conditions. It counts, per condition and resource, the values
 * checked and those that meet it (a JUnit testcase each), and keeps a bounded number of offending keys: `offenders`
 * values overall (each under the first condition it meets) and `perCase` per condition and resource.
 */
export class Gate {
  offending = 0;
  readonly offenders: OffendingKey[] = [];
  private readonly byCondition: Array<{ name: string; condition: FailOn | RowCheck; resources: Map<string, GateCase> }>;

  constructor(
    conditions: Array<FailOn | RowCheck>,
    private readonly keep: { offenders: number; perCase: number },
  ) {
    this.byCondition = conditions.map((condition) => ({
      name: condition.kind === 'check' ? condition.name : describeFailOn(condition),
      condition,
      resources: new Map(),
    }));
  }

  get failed(): boolean {
    return this.offending > 0;
  }

  /** check counts one row; `rawKey` is only read during the call. */
  check(row: InspectRow, rawKey: Buffer): void {
    let first: OffendingKey | undefined;
    for (const c of this.byCondition) {
      let tally = c.resources.get(row.resource);
      if (!tally) {
        tally = { condition: c.name, resource: row.resource, values: 0, offending: 0, keys: [] };
        c.resources.set(row.resource, tally);
      }
      tally.values++;
      if (!(c.condition.kind === 'check' ? c.condition.meets(row) : meets(row, c.condition))) continue;
      tally.offending++;
      const offender = first ?? offendingKey(row, rawKey, c.name);
      first ??= offender;
      if (tally.keys.length < this.keep.perCase) tally.keys.push({ ...offender, condition: c.name });
    }
    if (!first) return;
    this.offending++;
    if (this.offenders.length < this.keep.offenders) this.offenders.push(first);
  }

  /**
   * merge adds what a gate with the same conditions saw in the keys after this one's: counts add up, and the kept
   * offending keys are this one's first, then the other's, up to the same bounds, as if one gate had seen them all.
   */
  merge(other: Gate): void {
    this.offending += other.offending;
    for (const o of other.offenders) if (this.offenders.length < this.keep.offenders) this.offenders.push(o);
    this.byCondition.forEach((c, i) => {
      for (const [resource, t] of other.byCondition[i]!.resources) {
        const mine = c.resources.get(resource);
        if (!mine) c.resources.set(resource, { ...t, keys: [...t.keys] });
        else {
          mine.values += t.values;
          mine.offending += t.offending;
          for (const k of t.keys) if (mine.keys.length < this.keep.perCase) mine.keys.push(k);
        }
      }
    });
  }

  /** cases lists every condition on every resource seen, in the order met; a condition that saw nothing has one. */
  get cases(): GateCase[] {
    return this.byCondition.flatMap((c) =>
      c.resources.size > 0
        ? [...c.resources.values()]
        : [{ condition: c.name, resource: '', values: 0, offending: 0, keys: [] }],
    );
  }
}

function offendingKey(row: InspectRow, rawKey: Buffer, condition: string): OffendingKey {
  return {
    key: row.key,
    keyBase64: rawKey.toString('base64'),
    condition,
    class: row.class,
    ...(row.error ? { reason: row.error } : {}),
  };
}
