import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { KIND_PATHS, kindConfigYaml } from '../harness/backends/kind/kind-config.js';
import { findBinary } from '../harness/binaries/index.js';
import { uniqueName } from './support/env.js';

// The real kind binary, run against a fake `docker` (test/support/fake-docker/docker) first on PATH: kind parses
// and validates our config, provisions the "node", renders and patches its kubeadm config, writes it into the node
// and runs `kubeadm init`, which the fake fails. Everything kind asked docker for is in the fake's log.
const FAKE_DOCKER_DIR = fileURLToPath(new URL('./support/fake-docker/', import.meta.url));

interface DockerCall {
  argv: string[];
  stdin?: string;
}

interface KindRun {
  exitCode: number | undefined;
  output: string;
  calls: DockerCall[];
  /** The fake docker's root: files written into container C at path P are at <root>/C/P. */
  root: string;
}

let kind: string;
let work: string;

beforeAll(async () => {
  kind = (await findBinary('kind')).path;
  const { stdout } = await execa(kind, ['version']);
  // The command transcript below is kind v0.33's; another kind must be checked against its own source first.
  if (!stdout.startsWith('kind v0.33.')) throw new Error(`these tests are written against kind v0.33, got: ${stdout}`);
  work = mkdtempSync(join(tmpdir(), 'kmslab-kind-config-'));
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** A fresh directory per run with the two host dirs the config mounts, and a config generated for them. */
function setup(k8sVersion: string) {
  const dir = mkdtempSync(join(work, `${k8sVersion}-`));
  const hostKmsDir = join(dir, 'kms');
  const hostConfigDir = join(dir, 'encryption');
  mkdirSync(hostKmsDir);
  mkdirSync(hostConfigDir);
  const name = uniqueName('kindcfg');
  const yaml = kindConfigYaml({ name, k8sVersion, hostKmsDir, hostConfigDir });
  return { dir, name, hostKmsDir, hostConfigDir, yaml };
}

/** kindCreate runs `kind create cluster` with the fake docker; it never throws: tests assert on what happened. */
async function kindCreate(dir: string, name: string, configYaml: string): Promise<KindRun> {
  const configFile = join(dir, 'kind.yaml');
  writeFileSync(configFile, configYaml);
  const log = join(dir, 'docker.jsonl');
  const root = join(dir, 'docker-root');
  const env: Record<string, string | undefined> = {
    ...process.env,
    PATH: `${FAKE_DOCKER_DIR}${delimiter}${process.env.PATH ?? ''}`,
    FAKE_DOCKER_LOG: log,
    FAKE_DOCKER_ROOT: root,
    // No docker config.json: kind would otherwise read proxy settings from it (and ask `docker context inspect`).
    DOCKER_CONFIG: join(dir, 'docker-config'),
  };
  // Proxy variables make kind add -e flags and read the network's subnets; keep the transcript the same everywhere.
  for (const v of ['HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy']) delete env[v];
  for (const v of ['KIND_EXPERIMENTAL_PROVIDER', 'KIND_EXPERIMENTAL_DOCKER_NETWORK', 'DOCKER_HOST']) delete env[v];
  const result = await execa(
    kind,
    // --kubeconfig: kind's cleanup after the failure edits a kubeconfig; never the developer's ~/.kube/config.
    ['create', 'cluster', '--config', configFile, '--name', name, '--kubeconfig', join(dir, 'kubeconfig')],
    { env, extendEnv: false, reject: false, all: true, timeout: 120_000, stdin: 'ignore' },
  );
  const calls = existsSync(log)
    ? readFileSync(log, 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as DockerCall)
    : [];
  return { exitCode: result.exitCode, output: result.all ?? '', calls, root };
}

/** Short form of a docker call for transcripts: the subcommand, and for `exec` the command run in the node. */
function shape(call: DockerCall): string {
  const [sub, ...rest] = call.argv;
  if (sub === 'exec') {
    let i = 0; // skip exec's own options (--privileged, -i, -e K=V) to the container name
    while (rest[i]?.startsWith('-')) i += rest[i] === '-e' ? 2 : 1;
    return ['exec', ...rest.slice(i + 1, i + 3)].join(' ');
  }
  if (sub === 'network' || (sub === 'inspect' && rest[0] === '--type=image')) return `${sub} ${rest[0]}`;
  return sub!;
}

/** kind got all the way to `kubeadm init` (which the fake fails on purpose) and reported just that. */
function expectStoppedAtKubeadmInit(run: KindRun) {
  expect(run.exitCode).toBe(1);
  expect(run.output).toContain('ERROR: failed to create cluster: failed to init node with kubeadm');
  expect(run.output).toContain('kubeadm init is not emulated');
  expect(run.output).not.toContain('unsupported');
  expect(run.output).not.toMatch(/invalid configuration|unable to decode config|failed to apply patch/);
}

function dockerRun(run: KindRun): string[] {
  const runs = run.calls.filter((c) => c.argv[0] === 'run');
  expect(runs).toHaveLength(1);
  return runs[0]!.argv;
}

/** The ClusterConfiguration document of the kubeadm config kind wrote into the node. */
function clusterConfiguration(run: KindRun, node: string) {
  const text = readFileSync(join(run.root, node, 'kind/kubeadm.conf'), 'utf8');
  const docs = parseAllDocuments(text).map((d) => d.toJS() as Record<string, unknown>);
  expect(docs.map((d) => d.kind)).toEqual([
    'ClusterConfiguration',
    'InitConfiguration',
    'JoinConfiguration',
    'KubeletConfiguration',
    'KubeProxyConfiguration',
  ]);
  return { docs, cluster: docs[0] as { apiVersion: string; apiServer: Record<string, unknown> } };
}

const expectedExtraVolumes = [
  {
    name: 'encryption-config',
    hostPath: KIND_PATHS.configDir,
    mountPath: KIND_PATHS.configDir,
    readOnly: true,
    pathType: 'DirectoryOrCreate',
  },
  { name: 'kms-socket', hostPath: KIND_PATHS.kmsDir, mountPath: KIND_PATHS.kmsDir, pathType: 'DirectoryOrCreate' },
];

describe('kind configs from kindConfigYaml, run through the real kind against a fake docker', () => {
  test('v1.37.2: kind mounts both host dirs and patches the v1beta4 ClusterConfiguration with list extraArgs', async () => {
    const s = setup('v1.37.2');
    const run = await kindCreate(s.dir, s.name, s.yaml);
    expectStoppedAtKubeadmInit(run);
    const node = `${s.name}-control-plane`;

    // Everything kind v0.33 asked docker, in order: provider checks, node image, network, node, config, init, cleanup.
    expect(run.calls.map(shape)).toEqual([
      '-v',
      'info',
      'ps',
      'inspect --type=image',
      'network ls',
      'network inspect',
      'network create',
      'network ls',
      ...['info', 'info', 'info', 'info', 'info'],
      'run',
      'logs',
      ...['ps', 'inspect', 'ps', 'inspect', 'inspect', 'inspect'],
      'exec cat /kind/version',
      'inspect',
      'exec mkdir -p',
      'exec cp /dev/stdin',
      'inspect',
      'exec cat /kind/version',
      'exec kubeadm init',
      'ps',
      'rm',
    ]);

    const argv = dockerRun(run);
    expect(argv.slice(0, 3)).toEqual(['run', '--name', node]);
    expect(argv.at(-1)).toBe('kmslab/kind-node:v1.37.2'); // kmslab's own node image, built by kmslab build --images
    expect(argv).toContain(`io.x-k8s.kind.cluster=${s.name}`); // the label kind finds its nodes by
    expect(argv.filter((a) => a.startsWith('--volume='))).toEqual([
      `--volume=${s.hostKmsDir}:${KIND_PATHS.kmsDir}`,
      `--volume=${s.hostConfigDir}:${KIND_PATHS.configDir}:ro`,
    ]);

    // What kind wrote into the node is exactly what the fake saved.
    const cp = run.calls.find((c) => c.argv.includes('cp'))!;
    expect(cp.argv.slice(-3)).toEqual(['cp', '/dev/stdin', '/kind/kubeadm.conf']);
    expect(readFileSync(join(run.root, node, 'kind/kubeadm.conf'), 'utf8')).toBe(cp.stdin);

    const { docs, cluster } = clusterConfiguration(run, node);
    expect(docs.slice(0, 3).map((d) => d.apiVersion)).toEqual(Array(3).fill('kubeadm.k8s.io/v1beta4'));
    expect(cluster.apiServer.extraArgs).toEqual([
      { name: 'runtime-config', value: '' }, // kind's own argument survives the patch
      { name: 'encryption-provider-config', value: KIND_PATHS.configFile },
      { name: 'encryption-provider-config-automatic-reload', value: 'true' },
    ]);
    expect(cluster.apiServer.extraVolumes).toEqual(expectedExtraVolumes);
    expect(cluster.apiServer.certSANs).toEqual(['localhost', '127.0.0.1']);
    // The settings kmslab's node image needs reach kubeadm: it never pulls, and kubelet accepts a cgroup v1 host.
    const init = docs[1] as { nodeRegistration: Record<string, unknown> };
    expect(init.nodeRegistration.imagePullPolicy).toBe('Never');
    expect((docs[3] as Record<string, unknown>).failCgroupV1).toBe(false);
  });

  test('v1.35.4: kind uses kubeadm v1beta3 before 1.36, and the map-form extraArgs patch lands', async () => {
    const s = setup('v1.35.4');
    expect(s.yaml).toContain('apiVersion: kubeadm.k8s.io/v1beta3');
    const run = await kindCreate(s.dir, s.name, s.yaml);
    expectStoppedAtKubeadmInit(run);
    const node = `${s.name}-control-plane`;

    const argv = dockerRun(run);
    expect(argv.at(-1)).toBe('kmslab/kind-node:v1.35.4');
    expect(argv.filter((a) => a.startsWith('--volume='))).toEqual([
      `--volume=${s.hostKmsDir}:${KIND_PATHS.kmsDir}`,
      `--volume=${s.hostConfigDir}:${KIND_PATHS.configDir}:ro`,
    ]);

    const { docs, cluster } = clusterConfiguration(run, node);
    expect(docs.slice(0, 3).map((d) => d.apiVersion)).toEqual(Array(3).fill('kubeadm.k8s.io/v1beta3'));
    expect(cluster.apiServer.extraArgs).toEqual({
      'runtime-config': '',
      'encryption-provider-config': KIND_PATHS.configFile,
      'encryption-provider-config-automatic-reload': 'true',
    });
    expect(cluster.apiServer.extraVolumes).toEqual(expectedExtraVolumes);
  });

  test('a broken config (role: boss) is rejected by kind itself, before any node or network is created', async () => {
    const s = setup('v1.37.2');
    const broken = s.yaml.replace('role: control-plane', 'role: boss');
    expect(broken).not.toBe(s.yaml);
    const run = await kindCreate(s.dir, s.name, broken);

    expect(run.exitCode).toBe(1);
    expect(run.output).toContain('"boss" is not a valid node role');
    expect(run.output).not.toContain('fake docker');
    // kind only checked for docker and for an existing cluster of that name; validation came before provisioning.
    expect(run.calls.map(shape)).toEqual(['-v', 'info', 'ps']);
    expect(existsSync(run.root)).toBe(false);
  });
});
