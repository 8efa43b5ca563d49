import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { thawTree } from './cgroup-thaw.js';

const dir = mkdtempSync(join(tmpdir(), 'kmslab-cgroup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('every frozen cgroup under a node is thawed (v1 freezer.state, v2 cgroup.freeze); thawed ones are left alone', async () => {
  const v1 = join(dir, 'kubelet.slice', 'pod.slice', 'cri-containerd-x.scope');
  const v2 = join(dir, 'unified', 'pod');
  mkdirSync(v1, { recursive: true });
  mkdirSync(v2, { recursive: true });
  writeFileSync(join(dir, 'freezer.state'), 'THAWED\n');
  writeFileSync(join(v1, 'freezer.state'), 'FROZEN\n');
  writeFileSync(join(v2, 'cgroup.freeze'), '1\n');
  expect(await thawTree(dir)).toBe(2);
  expect(readFileSync(join(v1, 'freezer.state'), 'utf8')).toBe('THAWED');
  expect(readFileSync(join(v2, 'cgroup.freeze'), 'utf8')).toBe('0');
  expect(await thawTree(dir)).toBe(0);
});
