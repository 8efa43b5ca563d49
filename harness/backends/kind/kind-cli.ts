import { KmslabError } from '../../common/errors.js';
import { requireLocalImages, streamInto } from '../../images/docker-images.js';
import { qualified } from '../../images/node-image.js';
import { runCommand, type RunOptions } from '../../process/run-command.js';
import { nodeContainers, quiesceNode, thawNode } from './node-teardown.js';

/** KindCli drives the kind CLI (create, kubeconfig, logs, delete) and the node container through docker. */
export class KindCli {
  constructor(
    readonly kind = 'kind',
    readonly docker = 'docker',
    private readonly env?: NodeJS.ProcessEnv,
  ) {}

  createCluster(o: {
    name: string;
    config: string;
    kubeconfig: string;
    image?: string;
    wait?: string;
    signal?: AbortSignal;
  }): Promise<string> {
    return this.kindRun(
      [
        'create',
        'cluster',
        '--name',
        o.name,
        '--config',
        o.config,
        '--kubeconfig',
        o.kubeconfig,
        '--wait',
        o.wait ?? '3m',
        ...(o.image ? ['--image', o.image] : []),
      ],
      o.signal ? { signal: o.signal } : {},
    );
  }

  getKubeconfig(name: string): Promise<string> {
    return this.kindRun(['get', 'kubeconfig', '--name', name]);
  }

  exportLogs(name: string, dir: string): Promise<string> {
    return this.kindRun(['export', 'logs', dir, '--name', name]);
  }

  /**
   * deleteCluster removes a cluster's nodes with kind, after stopping their kubelets and thawing any frozen cgroup
   * (see node-teardown.ts); a node still there afterwards is thawed and removed again, until it is gone.
   */
  async deleteCluster(name: string): Promise<string> {
    const nodes = await nodeContainers(this.docker, name, this.env);
    for (const id of nodes) await quiesceNode(this.docker, id, this.env);
    for (const id of nodes) await thawNode(id);
    const out = await this.kindRun(['delete', 'cluster', '--name', name]);
    for (let attempt = 0; attempt < 10; attempt++) {
      const left = await nodeContainers(this.docker, name, this.env);
      if (left.length === 0) return out;
      for (const id of left) await thawNode(id);
      for (const id of left) await runCommand(this.docker, ['rm', '-f', '-v', id], this.opts()).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 1000));
    }
    throw new KmslabError('failed', `kind cluster ${name}: node container(s) still there after deletion`);
  }

  /** nodeExec runs a command in the cluster's control-plane node container. */
  nodeExec(cluster: string, args: string[], input?: string): Promise<string> {
    return runCommand(
      this.docker,
      ['exec', ...(input === undefined ? [] : ['-i']), `${cluster}-control-plane`, ...args],
      {
        ...this.opts(),
        ...(input === undefined ? {} : { input }),
      },
    );
  }

  /**
   * loadImages puts local images into the control-plane node's containerd (`docker save | ctr images import`), as
   * the node image got its own: pods then run them with imagePullPolicy Never and nothing is pulled. A missing
   * image fails before anything could ask a registry for it; an image the node still lacks afterwards fails too.
   */
  async loadImages(cluster: string, tags: string[]): Promise<void> {
    await requireLocalImages(tags);
    const node = `${cluster}-control-plane`;
    await streamInto(
      [this.docker, ['save', ...tags]],
      [this.docker, ['exec', '-i', node, 'ctr', '--namespace=k8s.io', 'images', 'import', '-']],
      `loading ${tags.join(', ')} into ${node}`,
    );
    const listed = (await this.nodeExec(cluster, ['ctr', '--namespace=k8s.io', 'images', 'list', '-q'])).split('\n');
    const missing = tags.filter((t) => !listed.includes(qualified(t)));
    if (missing.length)
      throw new KmslabError('failed', `${node}'s containerd lacks ${missing.join(', ')} after the import`);
  }

  /** nodeCopy copies a file out of the control-plane node. */
  nodeCopy(cluster: string, from: string, to: string): Promise<string> {
    return runCommand(this.docker, ['cp', `${cluster}-control-plane:${from}`, to], this.opts());
  }

  /** nodeIp is the control-plane node's address on the kind network (Linux hosts reach it directly). */
  async nodeIp(cluster: string): Promise<string> {
    const out = await runCommand(
      this.docker,
      ['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}', `${cluster}-control-plane`],
      this.opts(),
    );
    const ip = out.trim().split(/\s+/)[0];
    if (!ip) throw new Error(`no IP address for ${cluster}-control-plane`);
    return ip;
  }

  private kindRun(args: string[], extra: RunOptions = {}): Promise<string> {
    return runCommand(this.kind, args, { ...this.opts(), ...extra });
  }

  private opts(): RunOptions {
    return this.env ? { env: this.env } : {};
  }
}
