import { readFile } from 'node:fs/promises';
import { goEnv } from './go-env.js';

/** A component kmslab builds from Go modules: what to pin, how to write its go.mod, how to stamp its version. */
export interface Component {
  name: 'kube-apiserver' | 'etcd' | 'kind' | 'compose-check' | 'local-kms' | 'aws-kms-plugin';
  envVar: string;
  defaultVersion: string;
  /** goMod writes the wrapper module's go.mod for a version (go.sum then comes from `go mod tidy`). */
  goMod(version: string): Promise<string>;
  ldflags(version: string): string[];
}

// A release (v1.2.3) or a Go pseudo-version (v0.0.0-20260228092603-2a5e92d09ab6) for modules without releases.
const VERSION = /^v\d+\.\d+\.\d+(-\d{14}-[0-9a-f]{12})?$/;

/**
 * kube-apiserver: k8s.io/kubernetes cannot be required as is, because it requires its staging modules at
 * v0.0.0 and replaces them with local paths. The wrapper re-points each staging module at its published
 * v0.<minor>.<patch> tag; the list is read from the tag's own go.mod so new staging modules are never missed.
 */
export const kubeApiserver: Component = {
  name: 'kube-apiserver',
  envVar: 'KMSLAB_KUBE_APISERVER',
  defaultVersion: 'v1.37.2',
  async goMod(version) {
    requireVersion(version);
    const upstream = await upstreamGoMod('k8s.io/kubernetes', version);
    const staging = [...upstream.matchAll(/^\s*(k8s\.io\/[\w.-]+)\s+=>\s+\.\/staging\/src\/\S+/gm)].map((m) => m[1]!);
    if (staging.length === 0) throw new Error(`k8s.io/kubernetes@${version} go.mod lists no staging modules`);
    const stagingVersion = version.replace(/^v1\./, 'v0.');
    return [
      'module kmslab.local/kube-apiserver',
      '',
      goDirectives(upstream),
      `require k8s.io/kubernetes ${version}`,
      '',
      'replace (',
      ...staging.map((m) => `\t${m} => ${m} ${stagingVersion}`),
      ')',
      '',
    ].join('\n');
  },
  ldflags(version) {
    const [major, minor] = version.slice(1).split('.');
    const stamp = { gitVersion: version, gitMajor: major, gitMinor: minor, gitTreeState: 'clean' };
    return Object.entries(stamp).flatMap(([k, v]) => [
      `-X k8s.io/component-base/version.${k}=${v}`,
      `-X k8s.io/client-go/pkg/version.${k}=${v}`,
    ]);
  },
};

/** simpleWrapper is a component whose module can be required as is: our main.go plus `require <module> <version>`. */
function simpleWrapper(name: Component['name'], envVar: string, module: string, defaultVersion: string): Component {
  return {
    name,
    envVar,
    defaultVersion,
    async goMod(version) {
      requireVersion(version);
      const upstream = await upstreamGoMod(module, version);
      return [`module kmslab.local/${name}`, '', goDirectives(upstream), `require ${module} ${version}`, ''].join('\n');
    },
    ldflags: () => [],
  };
}

/** kind, built to check generated cluster configs with kind's own loader (its go.mod has no replace directives). */
export const kind = simpleWrapper('kind', 'KMSLAB_KIND', 'sigs.k8s.io/kind', 'v0.33.0');

/** compose-check: compose-go, the loader of Docker Compose v2, to validate docker-compose.yml without an engine. */
export const composeCheck = simpleWrapper(
  'compose-check',
  'KMSLAB_COMPOSE_CHECK',
  'github.com/compose-spec/compose-go/v2',
  'v2.16.2',
);

/** etcd: go.etcd.io/etcd/server/v3 has replace directives, so it is built through a wrapper module too. */
export const etcd = simpleWrapper('etcd', 'KMSLAB_ETCD', 'go.etcd.io/etcd/server/v3', 'v3.6.16');

/**
 * local-kms: an emulator of the AWS KMS API (github.com/nsmithuk/local-kms, no tagged releases, hence a
 * pseudo-version). Our main.go serves its handler on a loopback address only; see docs/third-party-plugin.md.
 */
export const localKms = simpleWrapper(
  'local-kms',
  'KMSLAB_LOCAL_KMS',
  'github.com/nsmithuk/local-kms',
  'v0.0.0-20260228092603-2a5e92d09ab6',
);

/**
 * aws-kms-plugin: our KMS v2 plugin on third-party code only — the upstream plugin gRPC server (k8s.io/kms/pkg/service)
 * and the AWS SDK for Go v2 KMS client, talking to local-kms. Its version is the k8s.io/kms version it is built on;
 * the SDK modules are pinned here and resolved by `go mod tidy`.
 */
export const awsKmsPlugin: Component = {
  name: 'aws-kms-plugin',
  envVar: 'KMSLAB_AWS_KMS_PLUGIN',
  defaultVersion: 'v0.37.2',
  async goMod(version) {
    requireVersion(version);
    const upstream = await upstreamGoMod('k8s.io/kms', version);
    return [
      'module kmslab.local/aws-kms-plugin',
      '',
      goDirectives(upstream),
      'require (',
      `	k8s.io/kms ${version}`,
      ...Object.entries(AWS_SDK).map(([m, v]) => `	${m} ${v}`),
      ')',
      '',
    ].join('\n');
  },
  ldflags: () => [],
};

const AWS_SDK = {
  'github.com/aws/aws-sdk-go-v2': 'v1.48.0',
  'github.com/aws/aws-sdk-go-v2/service/kms': 'v1.62.6',
  'github.com/aws/smithy-go': 'v1.28.9',
};

export const components = {
  'kube-apiserver': kubeApiserver,
  etcd,
  kind,
  'compose-check': composeCheck,
  'local-kms': localKms,
  'aws-kms-plugin': awsKmsPlugin,
} as const;

function requireVersion(version: string): void {
  if (!VERSION.test(version)) throw new Error(`version "${version}" is not of the form vMAJOR.MINOR.PATCH`);
}

// The go and godebug lines of the upstream module, so the build runs with upstream's language defaults.
function goDirectives(upstream: string): string {
  const lines = upstream.split('\n').filter((l) => /^(go|godebug)\s/.test(l));
  return lines.length ? lines.join('\n') + '\n' : '';
}

async function upstreamGoMod(module: string, version: string): Promise<string> {
  // Loaded here, not at the top: the CLI reads the pinned versions above on every start, and execa is heavy.
  const { execa } = await import('execa');
  const { stdout } = await execa('go', ['mod', 'download', '-json', `${module}@${version}`], {
    reject: false,
    env: goEnv(),
  });
  let info: { GoMod?: string; Error?: string } = {};
  try {
    info = JSON.parse(stdout) as typeof info;
  } catch {
    info = { Error: stdout || 'no answer from go mod download' };
  }
  if (!info.GoMod) throw new Error(`go mod download ${module}@${version}: ${info.Error ?? 'no go.mod'}`);
  return readFile(info.GoMod, 'utf8');
}
