import { randomBytes } from 'node:crypto';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { execa } from 'execa';
import { KmslabError } from '../common/errors.js';
import { goEnv } from '../binaries/go-env.js';
import { docker, imageInputs, streamInto } from './docker-images.js';
import { commit, filesDigest, stageFiles, tarOf, type ImageFile } from './image-recipes.js';

export const KIND_MODULE = 'sigs.k8s.io/kind@v0.33.0';

/** Registries a node's containerd is pointed away from (to a closed loopback port): a pull can never leave. */
const REGISTRIES = [
  '_default',
  'docker.io',
  'registry-1.docker.io',
  'registry.k8s.io',
  'k8s.gcr.io',
  'gcr.io',
  'quay.io',
  'ghcr.io',
  'public.ecr.aws',
  'mcr.microsoft.com',
];

/**
 * The node's default StorageClass (kind applies /kind/manifests/default-storage.yaml on create): Kubernetes' own
 * host-path provisioner, which runs inside kube-controller-manager (kind's kubeadm config turns it on), so no
 * provisioner image has to be built for a single-node lab. Volumes are directories on the node, gone with it.
 */
const DEFAULT_STORAGE = `apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: kubernetes.io/host-path
reclaimPolicy: Delete
volumeBindingMode: Immediate
`;

/** Pod network of kmslab's single-node clusters: kind's default pod subnet, its first /24 for the one node. */
export const POD_SUBNET = '10.244.0.0/16';

export interface NodeImageInputs {
  tag: string;
  k8sVersion: string;
  rootfs: string;
  /** kubeadm, kubelet and kubectl. */
  kubeadm: string;
  kubelet: string;
  kubectl: string;
  crictl: string;
  /** Images preloaded into the node's containerd (every one the cluster runs). */
  images: string[];
  pauseImage: string;
}

/**
 * nodeImage builds a kind node image by hand, the way `kind build node-image` does but with nothing fetched:
 * a container from kmslab's Debian base gets kind's base files (from the kind module), kubeadm/kubelet/kubectl,
 * crictl, a static bridge CNI config (kindnetd is not served by the module proxy) and every image the cluster runs,
 * imported into its containerd; then `docker commit`. Settings this kind of machine needs are baked in:
 * containerd's `restrict_oom_score_adj` (lowering oom_score_adj needs CAP_SYS_RESOURCE) and registries pointed at
 * a closed loopback port.
 */
export async function nodeImage(
  i: NodeImageInputs,
  say: (m: string) => void,
): Promise<{ tag: string; built: boolean }> {
  const files = [...(await kindBaseFiles(i.pauseImage)), ...nodeFiles(i)];
  const imageKeys = await Promise.all(i.images.map(async (t) => [t, await imageInputs(t)]));
  const inputs = await filesDigest(files, { rootfs: i.rootfs, imageKeys, recipe: NODE_SETUP });
  if ((await imageInputs(i.tag)) === inputs) return { tag: i.tag, built: false };

  const root = await stageFiles(files);
  const name = `kmslab-node-build-${randomBytes(4).toString('hex')}`;
  try {
    say(`  assembling ${i.tag} in container ${name}`);
    await docker([
      'run',
      '-d',
      '--pull=never',
      '--name',
      name,
      '--label',
      `${BUILD_LABEL}=${process.pid}`,
      '--entrypoint=sleep',
      '--security-opt',
      'seccomp=unconfined',
      i.rootfs,
      'infinity',
    ]);
    await streamInto(tarOf(root), ['docker', ['cp', '-', `${name}:/`]], `copying files into ${name}`);
    await docker(['exec', name, 'bash', '-c', NODE_SETUP]);
    // containerd's default spec, with kind's product-files hook and without rlimits (kind's recipe).
    const spec = JSON.parse(await docker(['exec', name, 'ctr', 'oci', 'spec'])) as {
      hooks?: { createContainer?: Array<{ path: string }> };
      process: { rlimits?: unknown };
    };
    spec.hooks = {
      ...spec.hooks,
      createContainer: [...(spec.hooks?.createContainer ?? []), { path: '/kind/bin/mount-product-files.sh' }],
    };
    delete spec.process.rlimits;
    await docker(['exec', '-i', name, 'cp', '/dev/stdin', '/etc/containerd/cri-base.json'], {
      input: JSON.stringify(spec, null, 2),
    });

    say(`  importing ${i.images.length} images into the node's containerd`);
    await docker(['exec', name, 'bash', '-c', 'nohup containerd > /var/log/kmslab-image-import.log 2>&1 &']);
    await waitFor(
      async () => (await execa('docker', ['exec', name, 'ctr', 'version'], { reject: false })).exitCode === 0,
      30_000,
      'containerd in the build container',
    );
    await streamInto(
      ['docker', ['save', ...i.images]],
      ['docker', ['exec', '-i', name, 'ctr', '--namespace=k8s.io', 'images', 'import', '--no-unpack', '-']],
      "importing images into the node's containerd",
    );
    const listed = (await docker(['exec', name, 'ctr', '--namespace=k8s.io', 'images', 'list', '-q'])).split('\n');
    const missing = i.images.filter((t) => !listed.includes(qualified(t)));
    if (missing.length)
      throw new KmslabError('build-failed', `the node's containerd lacks ${missing.join(', ')} after the import`);
    await docker(['exec', name, 'bash', '-c', STOP_CONTAINERD]);
    // No STOPSIGNAL (docker 20.10's commit refuses it): kind removes nodes with `docker rm -f`, never a stop.
    await commit(name, i.tag, inputs, [
      'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]',
      'ENV container=docker',
      'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      `LABEL io.kmslab.kubernetes-version=${i.k8sVersion}`,
    ]);
  } finally {
    await docker(['rm', '-f', '-v', name]).catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  }
  return { tag: i.tag, built: true };
}

// The node runs systemd as PID 1 inside a container. Each step says why; together they leave systemd starting
// only kubelet, containerd and kind's mount fix-up, with nothing that needs a real machine.
const NODE_STEPS: Array<[why: string, command: string]> = [
  ['kind mounts product files from /kind; the hook scripts must be executable', 'chmod 755 /kind /kind/bin'],
  [
    'tmpfiles setup would rewrite /sys and /proc entries a container cannot own',
    'rm -f /lib/systemd/system/sysinit.target.wants/systemd-tmpfiles-setup.service',
  ],
  [
    'no getty, udev, initctl or default multi-user units: a container has no consoles or devices to manage',
    `for wants in multi-user local-fs basic; do rm -f /lib/systemd/system/$wants.target.wants/*; done
rm -f /etc/systemd/system/*.wants/* /lib/systemd/system/sockets.target.wants/*udev* /lib/systemd/system/sockets.target.wants/*initctl*`,
  ],
  ['journald must not read the host kernel ring buffer', 'printf "ReadKMsg=no\\n" >> /etc/systemd/journald.conf'],
  ['the entrypoint execs /sbin/init', 'ln -sf /usr/lib/systemd/systemd /sbin/init'],
  [
    'the units a node needs, and none that registers binary formats with the host kernel',
    'systemctl enable kubelet.service containerd.service undo-mount-hacks.service && systemctl mask systemd-binfmt.service',
  ],
  ['kubelet runs the control plane from static pod manifests here', 'mkdir -p /etc/kubernetes/manifests'],
];
const NODE_SETUP = ['set -euo pipefail', ...NODE_STEPS.map(([why, command]) => `# ${why}\n${command}`)].join('\n');

/** Build containers carry the building process's pid, so an interrupted build can remove its own. */
const BUILD_LABEL = 'io.kmslab.build';

/** removeBuildContainers removes the build containers this process started (after Ctrl-C, say). */
export async function removeBuildContainers(): Promise<void> {
  const ids = (await docker(['ps', '-aq', '--filter', `label=${BUILD_LABEL}=${process.pid}`])).split('\n');
  for (const id of ids.filter(Boolean)) await docker(['rm', '-f', '-v', id]).catch(() => undefined);
}

const STOP_CONTAINERD = `set -u
pkill containerd || true
for i in $(seq 1 50); do pgrep containerd >/dev/null || break; sleep 0.2; done
rm -rf /run/containerd /var/log/kmslab-image-import.log /tmp/*
`;

/** qualified: an image's full reference as ctr lists it (docker.io/ prefixed when no registry is named). */
export function qualified(tag: string): string {
  const first = tag.split('/')[0]!;
  return tag.includes('/') && (first.includes('.') || first.includes(':'))
    ? tag
    : `docker.io/${tag.includes('/') ? tag : `library/${tag}`}`;
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new KmslabError('build-failed', `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** kindModuleDir is the kind module in the Go module cache (fetched from the module proxy if missing). */
export async function kindModuleDir(): Promise<string> {
  const r = await execa('go', ['mod', 'download', '-json', KIND_MODULE], { env: goEnv(), reject: false });
  const dir = (JSON.parse(String(r.stdout || '{}')) as { Dir?: string }).Dir;
  if (!dir) throw new KmslabError('build-failed', `go mod download ${KIND_MODULE} failed: ${String(r.stdout)}`);
  return dir;
}

/**
 * kindBaseFiles: kind's `images/base/files` from the kind module, as its Dockerfile places them, with containerd's
 * config adjusted for this machine: the sandbox image kubeadm expects, oom_score_adj restricted, and registries
 * pointed at a closed port.
 */
async function kindBaseFiles(pauseImage: string): Promise<ImageFile[]> {
  const base = join(await kindModuleDir(), 'images/base/files');
  const files: ImageFile[] = [];
  for (const file of await walk(base)) {
    const rel = relative(base, file);
    if (rel.startsWith('LICENSES/')) continue;
    const executable = rel.startsWith('usr/local/bin/') || rel.startsWith('kind/bin/');
    if (rel === 'etc/containerd/config.toml') {
      files.push({ path: rel, text: containerdConfig(await readFile(file, 'utf8'), pauseImage) });
    } else files.push({ path: rel, from: file, mode: executable ? 0o755 : 0o644 });
  }
  return files;
}

function containerdConfig(kindConfig: string, pauseImage: string): string {
  const set = (text: string, key: string, value: string) => {
    const re = new RegExp(`^(\\s*${key}\\s*=\\s*).*$`, 'm');
    if (!re.test(text)) throw new KmslabError('build-failed', `kind's containerd config has no ${key} setting`);
    return text.replace(re, `$1${value}`);
  };
  let text = set(kindConfig, 'sandbox_image', JSON.stringify(pauseImage));
  // kmslab: lowering oom_score_adj needs CAP_SYS_RESOURCE, which some hosts' bounding sets lack.
  text = set(text, 'restrict_oom_score_adj', 'true');
  return `${text}
# kmslab: registries resolve through /etc/containerd/certs.d, where each points at a closed loopback port.
[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "/etc/containerd/certs.d"
`;
}

function nodeFiles(i: NodeImageInputs): ImageFile[] {
  const bin = (path: string, from: string): ImageFile => ({ path, from, mode: 0o755 });
  const cni = {
    cniVersion: '1.0.0',
    name: 'kmslab',
    plugins: [
      {
        type: 'bridge',
        bridge: 'kmslab0',
        isGateway: true,
        ipMasq: true,
        hairpinMode: true,
        ipam: { type: 'host-local', ranges: [[{ subnet: '10.244.0.0/24' }]], routes: [{ dst: '0.0.0.0/0' }] },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  };
  return [
    bin('usr/bin/kubeadm', i.kubeadm),
    bin('usr/bin/kubelet', i.kubelet),
    bin('usr/bin/kubectl', i.kubectl),
    bin('usr/local/bin/crictl', i.crictl),
    { path: 'usr/local/bin/containerd', symlinkTo: '/usr/bin/containerd' },
    ...['bridge', 'host-local', 'loopback', 'portmap', 'ptp'].map((p): ImageFile => ({
      path: `opt/cni/bin/${p}`,
      symlinkTo: `/usr/lib/cni/${p}`,
    })),
    { path: 'etc/cni/net.d/10-kmslab.conflist', text: JSON.stringify(cni, null, 2) + '\n' },
    { path: 'kind/version', text: i.k8sVersion },
    { path: 'kind/manifests/default-storage.yaml', text: DEFAULT_STORAGE },
    ...REGISTRIES.map((r): ImageFile => ({
      path: `etc/containerd/certs.d/${r}/hosts.toml`,
      text: '# kmslab preloads every image; a pull goes to a closed loopback port and fails on the node.\nserver = "http://127.0.0.1:9"\n',
    })),
  ];
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir)) {
    const path = join(dir, entry);
    if ((await stat(path)).isDirectory()) out.push(...(await walk(path)));
    else out.push(path);
  }
  return out.sort();
}
