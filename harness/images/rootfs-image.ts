import { createHash } from 'node:crypto';
import { readFile, rm, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { KmslabError } from '../common/errors.js';
import { cacheRoot } from '../common/paths.js';
import { aptInstall, hasCommand } from '../engine/apt.js';
import { importImage, imageInputs } from './docker-images.js';

const SUITE = 'bookworm';

/**
 * Debian packages of kmslab's base image: what a kind node runs (systemd, containerd 1.6 with runc, the CNI plugins,
 * iptables and conntrack for kube-proxy, the tools kind's entrypoint calls). The same image underlies the fake-KMS
 * and kube-proxy images, which need a libc and iptables.
 */
export const ROOTFS_PACKAGES = [
  'systemd',
  'dbus',
  'containerd',
  'runc',
  'containernetworking-plugins',
  'iptables',
  'nftables',
  'conntrack',
  'iproute2',
  'ethtool',
  'util-linux',
  'mount',
  'kmod',
  'libseccomp2',
  'pigz',
  'procps',
  'bash',
  'ca-certificates',
  'jq',
];

/**
 * rootfsImage builds (once; cached by its inputs) `kmslab/rootfs:bookworm-<digest>`: debootstrap of Debian bookworm
 * from the machine's own apt mirror, on the host, then `docker import`. No container reaches a package registry.
 */
export async function rootfsImage(say: (m: string) => void): Promise<{ tag: string; built: boolean }> {
  const mirror = await debianMirror();
  const inputs = digest({ SUITE, mirror, ROOTFS_PACKAGES, variant: 'minbase' });
  const tag = `kmslab/rootfs:${SUITE}-${inputs}`;
  if ((await imageInputs(tag)) === inputs) return { tag, built: false };
  if (!(await hasCommand('debootstrap'))) {
    await aptInstall(['debootstrap'], 'the base image is made with debootstrap, which is not installed', say);
  }
  const dir = join(cacheRoot(), 'images', `rootfs-${inputs}.tmp`);
  await removeTree(dir);
  await mkdir(join(dir, '..'), { recursive: true });
  say(`debootstrap ${SUITE} (minbase + ${ROOTFS_PACKAGES.length} packages) from ${mirror}`);
  try {
    const r = await execa(
      'debootstrap',
      ['--variant=minbase', `--include=${ROOTFS_PACKAGES.join(',')}`, SUITE, dir, mirror],
      { reject: false, all: true },
    );
    if (r.exitCode !== 0) {
      throw new KmslabError(
        'build-failed',
        `debootstrap failed (exit ${r.exitCode}):\n${String(r.all).split('\n').slice(-15).join('\n')}`,
      );
    }
    // Package caches and lists make the image bigger and say nothing about what runs.
    await execa('sh', [
      '-c',
      'rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/* "$1"/var/log/*',
      'sh',
      dir,
    ]);
    say(`docker import ${tag}`);
    await importImage(['tar', ['-C', dir, '--numeric-owner', '-c', '.']], tag, inputs);
  } finally {
    await removeTree(dir);
  }
  return { tag, built: true };
}

/** debianMirror is the Debian archive this machine's apt uses (deb822 or one-line sources), else deb.debian.org. */
export async function debianMirror(): Promise<string> {
  const files = ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list'];
  for (const f of files) {
    const text = await readFile(f, 'utf8').catch(() => '');
    const deb822 = /^URIs:\s*(\S+\/debian)\/?\s*$/m.exec(text);
    if (deb822) return deb822[1]!;
    const line = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+\/debian)\/?\s+bookworm\s/m.exec(text);
    if (line) return line[1]!;
  }
  return 'http://deb.debian.org/debian';
}

/** removeTree unmounts whatever debootstrap left mounted inside dir (proc, sys), deepest first, then removes it. */
async function removeTree(dir: string): Promise<void> {
  const mounts = (await readFile('/proc/self/mounts', 'utf8'))
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) await execa('umount', ['-l', m], { reject: false });
  await rm(dir, { recursive: true, force: true });
}

export function digest(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 12);
}
