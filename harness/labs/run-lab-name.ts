import { createHash } from 'node:crypto';

const ROOM = 22; // 32 characters a lab name may have, less '-' and a base-36 millisecond stamp

/**
 * runLabName names the lab a run starts for one scenario or check: `<label>-<stamp>`. A label too long for the
 * name keeps its start and ends in a short hash of the whole label, so two labels that share their first
 * characters (ha-writes-go-on, ha-writes-stop…) never get one name in the same run.
 */
export function runLabName(label: string, stamp: string): string {
  const clean = label.toLowerCase().replace(/[^a-z0-9-]+/g, '-');
  const base =
    clean.length <= ROOM
      ? clean
      : `${clean.slice(0, ROOM - 5)}-${createHash('sha256').update(label).digest('hex').slice(0, 4)}`;
  return `${base}-${stamp}`.replace(/-+/g, '-').replace(/^-|-$/g, '');
}
