import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { HOOK_CHECKS, PROTOCOL_CHECKS } from './checks.js';

test('docs/conformance.md lists every check with its level, and no check that does not exist', () => {
  const doc = readFileSync(new URL('../docs/conformance.md', import.meta.url), 'utf8');
  const rows = new Map(
    [...doc.matchAll(/^\| `([a-z0-9-]+)` \| (required|recommended) \|/gm)].map((m) => [m[1]!, m[2]!]),
  );
  const checks = [...PROTOCOL_CHECKS, ...HOOK_CHECKS];
  for (const c of checks) expect(rows.get(c.id), c.id).toBe(c.level);
  const ids = new Set(checks.map((c) => c.id));
  for (const id of rows.keys())
    if (!id.startsWith('scenario-')) expect(ids.has(id), `${id} is documented but no check`).toBe(true);
});
