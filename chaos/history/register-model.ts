import type { Anomaly } from './anomalies.js';
import { opsByKey, type Operation } from './operation.js';

type Value = string | null; // a digest, or null: no such Secret

/**
 * Config is one explanation of a Secret's history so far: what it holds now, and which writes of unknown outcome
 * have not taken effect yet (each may still, at most once, or never). Info deletes all do the same thing, so they
 * are counted rather than named. `tainted`: the explanation needs an anomaly already reported (the state did change
 * as a wrong read showed), until an acknowledged write sets the state again.
 */
interface Config {
  value: Value;
  pending: ReadonlySet<number>;
  deletes: number;
  tainted?: true;
}

// Beyond this many explanations of one Secret, those holding the same value are merged (a union of what may still
// land): the check stays sound — it can only accept more — and the key is reported as judged approximately.
const MAX_CONFIGS = 64;

export interface RegisterVerdict {
  anomalies: Anomaly[];
  keys: number;
  /** Secrets whose explanations had to be merged (never seen in the workload's histories so far). */
  approximateKeys: string[];
}

/**
 * checkRegisters judges every Secret's history against one model — a register written by create, update and delete,
 * where each value is unique, an acknowledged write takes effect within its request, a failed one never, and one of
 * unknown outcome at any later time or never — and names every read or acknowledgement no explanation allows. The
 * reads made during the run and after recovery are judged by the same model, in one pass.
 */
export function checkRegisters(history: readonly Operation[], t0 = 0): RegisterVerdict {
  const anomalies: Anomaly[] = [];
  const approximateKeys: string[] = [];
  const keys = opsByKey(history);
  for (const [key, ops] of keys) {
    const model = new SecretModel(key, ops, t0);
    anomalies.push(...model.run());
    if (model.approximate) approximateKeys.push(key);
  }
  return { anomalies, keys: keys.size, approximateKeys };
}

class SecretModel {
  approximate = false;
  private configs: Config[] = [{ value: null, pending: new Set(), deletes: 0 }];
  private readonly writerOf = new Map<string, number>(); // value → index of the write that wrote it
  private lastAck: Operation | undefined;
  private lastAnomaly: Anomaly | undefined;

  constructor(
    private readonly key: string,
    private readonly ops: Operation[],
    private readonly t0: number,
  ) {
    ops.forEach((op, i) => {
      if (op.f !== 'read' && op.value !== undefined) this.writerOf.set(op.value, i);
    });
  }

  run(): Anomaly[] {
    const found: Anomaly[] = [];
    let maxEnd = -Infinity;
    this.ops.forEach((op, i) => {
      const overlaps = maxEnd > op.start || (this.ops[i + 1]?.start ?? Infinity) < op.end;
      maxEnd = Math.max(maxEnd, op.end);
      if (op.f === 'read') {
        if (op.type === 'ok') {
          const anomaly = this.read(op, overlaps);
          if (anomaly) found.push((this.lastAnomaly = anomaly));
        }
        return;
      }
      if (overlaps) {
        throw new Error(
          `the history has a ${op.f} of ${this.key} overlapping another request: the checker needs one writer per Secret`,
        );
      }
      if (op.type === 'info') this.unknown(op, i);
      else if (op.type === 'ok') {
        const anomaly = this.acknowledged(op);
        if (anomaly) found.push((this.lastAnomaly = anomaly));
        this.lastAck = op;
      }
    });
    return found;
  }

  // A write of unknown outcome joins every explanation as one that may still land.
  private unknown(op: Operation, i: number): void {
    this.configs = this.configs.map((c) =>
      op.f === 'delete' ? { ...c, deletes: c.deletes + 1 } : { ...c, pending: new Set([...c.pending, i]) },
    );
  }

  private acknowledged(op: Operation): Anomaly | undefined {
    const written: Value = op.f === 'delete' ? null : op.value!;
    // The apiserver creates only what is absent and updates only what exists (its read before the write would 404).
    const before =
      op.f === 'create'
        ? this.configs.flatMap((c) => this.reach(c, null))
        : op.f === 'update'
          ? this.configs.flatMap((c) => this.reachPresent(c))
          : this.configs;
    let anomaly: Anomaly | undefined;
    let from = before;
    if (before.length === 0) {
      anomaly = {
        name: 'lost-acknowledged-write',
        key: this.key,
        apiserver: op.apiserver,
        at: op.start - this.t0,
        acknowledged: this.describe(op),
        problem:
          op.f === 'create'
            ? 'a create was acknowledged while every explanation has the Secret present: it had vanished'
            : 'an update was acknowledged while every explanation has the Secret absent: a delete was lost',
        lastAcknowledged: this.lastAck && this.describe(this.lastAck),
      };
      from = this.configs;
    }
    // An acknowledged write sets the state again: what an earlier anomaly explained no longer matters.
    this.configs = this.prune(from.map((c) => ({ value: written, pending: c.pending, deletes: c.deletes })));
    return anomaly;
  }

  private read(op: Operation, overlaps: boolean): Anomaly | undefined {
    const seen: Value = op.value ?? null;
    const fits = this.configs.flatMap((c) => this.reach(c, seen));
    if (fits.length > 0) {
      // A read concurrent with another request might be ordered either way: it is checked, but narrows nothing.
      if (!overlaps) this.configs = this.prune(fits);
      // Only an explanation that needs an earlier anomaly fits: the same fault again. After recovery that means it
      // lasted — an acknowledged write lost for good, reported as such.
      if (op.final && fits.every((c) => c.tainted)) {
        return {
          ...this.classify(op, seen),
          name: 'lost-acknowledged-write',
          firstSeen: this.lastAnomaly && { name: this.lastAnomaly.name, at: this.lastAnomaly.at },
        };
      }
      return undefined;
    }
    const anomaly = this.classify(op, seen);
    // Go on from both: what was seen (the state did change) and what was expected (the read was wrong), so one
    // fault is reported once, not again at every later read.
    const writer = seen === null ? undefined : this.writerOf.get(seen);
    this.configs = this.prune([
      ...this.configs,
      ...this.configs.map((c) => ({
        value: seen,
        pending: writer !== undefined && c.pending.has(writer) ? without(c.pending, writer) : c.pending,
        deletes: c.deletes,
        tainted: true as const,
      })),
    ]);
    return anomaly;
  }

  private classify(op: Operation, seen: Value): Anomaly {
    const base = {
      key: this.key,
      apiserver: op.apiserver,
      at: op.start - this.t0,
      read: seen ?? 'absent',
      ...(op.final ? { when: 'after recovery' } : {}),
      possible: this.possible(),
      lastAcknowledged: this.lastAck && this.describe(this.lastAck),
    };
    if (seen === null) return { name: op.final ? 'lost-acknowledged-write' : 'absent-read', ...base };
    const w = this.writerOf.get(seen);
    const writer = w === undefined ? undefined : this.ops[w]!;
    if (!writer || writer.start > op.end)
      return { name: 'never-written-read', ...base, ...(writer ? { writtenLater: this.describe(writer) } : {}) };
    if (writer.type === 'fail') return { name: 'failed-write-visible', ...base, failedWrite: this.describe(writer) };
    return { name: op.final ? 'lost-acknowledged-write' : 'stale-read', ...base, writtenBy: this.describe(writer) };
  }

  // The explanations derived from c in which the Secret holds `target`, letting pending writes land first (only the
  // maximal ones: landing fewer writes leaves more that may still land).
  private reach(c: Config, target: Value): Config[] {
    if (c.value === target) return [c];
    const t = c.tainted ? { tainted: true as const } : {};
    if (target === null)
      return c.deletes > 0 ? [{ value: null, pending: c.pending, deletes: c.deletes - 1, ...t }] : [];
    const w = this.writerOf.get(target);
    if (w === undefined || !c.pending.has(w)) return [];
    const rest = without(c.pending, w);
    if (this.ops[w]!.f === 'create') {
      if (c.value === null) return [{ value: target, pending: rest, deletes: c.deletes, ...t }];
      return c.deletes > 0 ? [{ value: target, pending: rest, deletes: c.deletes - 1, ...t }] : [];
    }
    if (c.value !== null) return [{ value: target, pending: rest, deletes: c.deletes, ...t }];
    return this.pendingCreates(rest).map((cr) => ({
      value: target,
      pending: without(rest, cr),
      deletes: c.deletes,
      ...t,
    }));
  }

  private reachPresent(c: Config): Config[] {
    if (c.value !== null) return [c];
    return this.pendingCreates(c.pending).map((cr) => ({
      value: this.ops[cr]!.value!,
      pending: without(c.pending, cr),
      deletes: c.deletes,
      ...(c.tainted ? { tainted: true as const } : {}),
    }));
  }

  private pendingCreates(pending: ReadonlySet<number>): number[] {
    return [...pending].filter((i) => this.ops[i]!.f === 'create');
  }

  private prune(list: Config[]): Config[] {
    const kept: Config[] = [];
    const widest = [...list].sort(
      (a, b) =>
        Number(a.tainted ?? 0) - Number(b.tainted ?? 0) || b.pending.size - a.pending.size || b.deletes - a.deletes,
    );
    for (const c of widest) if (!kept.some((k) => dominates(k, c))) kept.push(c);
    if (kept.length <= MAX_CONFIGS) return kept;
    this.approximate = true;
    const merged = new Map<Value, Config>();
    for (const c of kept) {
      const m = merged.get(c.value);
      merged.set(
        c.value,
        m
          ? {
              value: c.value,
              pending: new Set([...m.pending, ...c.pending]),
              deletes: Math.max(m.deletes, c.deletes),
              ...(m.tainted && c.tainted ? { tainted: true as const } : {}),
            }
          : c,
      );
    }
    return [...merged.values()];
  }

  private possible(): string[] {
    const values = new Set<string>();
    for (const c of this.configs) {
      values.add(c.value ?? 'absent');
      if (c.deletes > 0) values.add('absent');
      for (const i of c.pending) values.add(this.ops[i]!.value!);
    }
    return [...values].slice(0, 8);
  }

  private describe(op: Operation) {
    return {
      f: op.f,
      type: op.type,
      at: op.start - this.t0,
      apiserver: op.apiserver,
      ...(op.value === undefined ? {} : { value: op.value }),
    };
  }
}

// a can explain everything b can: same value, and at least the writes b may still see land.
function dominates(a: Config, b: Config): boolean {
  if (a.value !== b.value || a.deletes < b.deletes || a.pending.size < b.pending.size) return false;
  if (a.tainted && !b.tainted) return false;
  for (const i of b.pending) if (!a.pending.has(i)) return false;
  return true;
}

function without(set: ReadonlySet<number>, i: number): Set<number> {
  const s = new Set(set);
  s.delete(i);
  return s;
}
