import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, expect, test } from 'vitest';
import { buildOwnProgram } from './runtime-wrapper.js';

// kmslab-runc built against a stand-in "runc" that prints the spec it was handed: what the real runc would get.
const dir = mkdtempSync(join(tmpdir(), 'kmslab-runc-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const fakeRunc = join(dir, 'runc');
writeFileSync(
  fakeRunc,
  '#!/bin/sh\nwhile [ $# -gt 0 ]; do case "$1" in --bundle) cat "$2/config.json"; exit 0;; --process) cat "$2"; exit 0;; esac; shift; done\necho "no spec: $*"\n',
);
chmodSync(fakeRunc, 0o755);

const ALL_CAPS = ['CAP_CHOWN', 'CAP_SYS_ADMIN', 'CAP_SYS_RESOURCE', 'CAP_NET_ADMIN', 'CAP_BPF'];
const process_ = () => ({
  args: ['/sbin/init'],
  capabilities: { bounding: ALL_CAPS, effective: ALL_CAPS, permitted: ALL_CAPS },
  rlimits: [{ type: 'RLIMIT_NOFILE', hard: 2 ** 40, soft: 2 ** 40 }],
});
const NUMBERS: Record<string, number> = {
  CAP_CHOWN: 0,
  CAP_NET_ADMIN: 12,
  CAP_SYS_ADMIN: 21,
  CAP_SYS_RESOURCE: 24,
  CAP_BPF: 39,
};
const bounding = BigInt(`0x${/^CapBnd:\s*([0-9a-f]+)/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]}`);
const allowed = ALL_CAPS.filter((c) => (bounding & (1n << BigInt(NUMBERS[c]!))) !== 0n);
const hardNofile = Number(/^Max open files\s+\d+\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))![1]);

test('create: capabilities outside this host’s bounding set and rlimits above its hard limits are fitted', async () => {
  const wrapper = await buildOwnProgram('oci-runtime', 'kmslab-runc', `-X main.runc=${fakeRunc}`);
  const bundle = join(dir, 'bundle');
  rmSync(bundle, { recursive: true, force: true });
  await execa('mkdir', ['-p', bundle]);
  // A 64-bit number elsewhere in the spec must survive the edit exactly.
  writeFileSync(
    join(bundle, 'config.json'),
    `{"process": ${JSON.stringify(process_())}, "linux": {"resources": {"memory": {"limit": 9223372036854775807}}}}`,
  );
  const { stdout } = await execa(wrapper, ['--root', '/run/x', '--log', '/tmp/l', 'create', '--bundle', bundle, 'id1']);
  expect(stdout).toContain('"limit":9223372036854775807');
  const spec = JSON.parse(stdout.replace('9223372036854775807', '0')) as { process: ReturnType<typeof process_> };
  for (const set of ['bounding', 'effective', 'permitted'] as const)
    expect(spec.process.capabilities[set]).toEqual(allowed);
  expect(spec.process.rlimits).toEqual([{ type: 'RLIMIT_NOFILE', hard: hardNofile, soft: hardNofile }]);
});

test('exec: the --process file is fitted the same way', async () => {
  const wrapper = await buildOwnProgram('oci-runtime', 'kmslab-runc', `-X main.runc=${fakeRunc}`);
  const file = join(dir, 'process.json');
  writeFileSync(file, JSON.stringify(process_()));
  const { stdout } = await execa(wrapper, ['exec', '--process', file, 'id1']);
  expect((JSON.parse(stdout) as ReturnType<typeof process_>).capabilities.effective).toEqual(allowed);
});
