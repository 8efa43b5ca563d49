import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { thawTree } from '../../engine/cgroup-thaw.js';

/**
 * Why this exists: inside a kind node, runc freezes a container's cgroup while it applies device rules (cgroup v1,
 * systemd driver). When the node is killed at that moment, the freeze is never lifted: the container's init stays
 * in uninterruptible sleep, the node's pid namespace cannot end, and `docker rm -f` leaves the node running
 * ("removal in progress") with its containerd-shim. Seen once in ~30 kind clusters here, on cluster deletion.
 * So before a node is removed its kubelet is stopped (no container is being started while it dies), and any frozen
 * cgroup under it is thawed.
 */

/** nodeContainers lists the node containers of a kind cluster (kind labels them with the cluster name). */
export async function nodeContainers(docker: string, cluster: string, env?: NodeJS.ProcessEnv): Promise<string[]> {
  const r = await execa(
    docker,
    ['ps', '-a', '-q', '--no-trunc', '--filter', `label=io.x-k8s.kind.cluster=${cluster}`],
    {
      reject: false,
      ...(env ? { env } : {}),
    },
  );
  return r.exitCode === 0 ? String(r.stdout).split('\n').filter(Boolean) : [];
}

/** quiesceNode stops the node's kubelet (best effort: a node that no longer answers is skipped). */
export async function quiesceNode(docker: string, id: string, env?: NodeJS.ProcessEnv): Promise<void> {
  await execa(docker, ['exec', id, 'systemctl', 'stop', 'kubelet'], {
    reject: false,
    timeout: 30_000,
    ...(env ? { env } : {}),
  });
}

/**
 * thawNode lifts every freeze under a node container's cgroups (v1 `freezer.state`, v2 `cgroup.freeze`), from the
 * host. Returns how many it thawed.
 */
export async function thawNode(id: string): Promise<number> {
  let thawed = 0;
  for (const root of await nodeCgroupDirs(id)) thawed += await thawTree(root);
  return thawed;
}

async function nodeCgroupDirs(id: string): Promise<string[]> {
  const dirs = [join('/sys/fs/cgroup/freezer/docker', id), join('/sys/fs/cgroup/system.slice', `docker-${id}.scope`)];
  const found: string[] = [];
  for (const d of dirs) if (await readdir(d).catch(() => undefined)) found.push(d);
  return found;
}
