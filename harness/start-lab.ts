import { KmslabError } from './common/errors.js';
import { tidyFailedStart } from './labs/tidy-failed-start.js';
import type { LocalLabOptions } from './backends/local/local-lab.js';
import type { SimLabOptions } from './backends/sim/sim-lab.js';
import { identityOnly, kmsThenIdentity, pointAt } from './kube/encryption-config.js';
import type { UserEncryption } from './kube/encryption-config-lint.js';
import type { Lab, LabNeeds } from './lab.js';
import { kmsV1Rules } from './lab-kms-v1.js';

export type Backend = Lab['backend'];

export type StartLabOptions = {
  backend?: 'local' | 'sim' | 'kind' | 'compose';
  /**
   * Remove the lab's directory (logs, etcd data, keys: ~60 MB for a local lab) when it is closed. Default true: a
   * lab started from code is a fixture of that code, and its dir would otherwise stay behind, listed as stopped,
   * until `kmslab down`. Set false to keep the logs for a post-mortem (or copy them first with `lab.collectLogs(dir)`).
   * A lab whose start fails keeps its logs either way (and nothing else).
   */
  removeOnClose?: boolean;
  /** sim only: the seed that makes a run replayable. */
  seed?: string;
  /** sim only: model a broken plugin (see SimLabOptions). */
  brokenPlugin?: SimLabOptions['brokenPlugin'];
  /** kind only: the node image (default kmslab's own, from `kmslab build --images`). */
  image?: string;
} & Omit<LocalLabOptions, 'removeOnClose'>;

// The names backends give a lab started without one (compose draws a random one: nothing to tidy by name).
const DEFAULT_NAMES: Partial<Record<Backend, string>> = { local: 'default', kind: 'kind' };

/**
 * startLab starts a lab on a backend (default `local`: real etcd and kube-apiserver processes). Each backend is
 * loaded when first asked for: a sim lab never loads the Kubernetes client or the Docker libraries. Close the lab
 * when done (`await lab.close()`, or `await using`): that stops its processes and, unless `removeOnClose: false`,
 * removes its directory. A start that fails leaves only its logs, and says where they are.
 */
export async function startLab(options: StartLabOptions = {}): Promise<Lab> {
  const backend = options.backend ?? 'local';
  checkStartOptions(options, backend);
  const name = options.name ?? DEFAULT_NAMES[backend];
  try {
    return await startOn(backend, { ...options, removeOnClose: options.removeOnClose ?? true });
  } catch (error) {
    // A name another process holds is not this start's to tidy.
    if (!name || backend === 'sim' || (error instanceof KmslabError && error.code === 'conflict')) throw error;
    const logs = await tidyFailedStart(name);
    if (!(error instanceof KmslabError)) throw error;
    const what = error.message.replace(/\n\(lab files[^\n]*\)$/, '');
    throw new KmslabError(
      error.code,
      logs ? `${what}\n(its logs are kept in ${logs}; kmslab down --name ${name} removes them)` : what,
      { cause: error.cause ?? error },
    );
  }
}

function checkStartOptions(options: StartLabOptions, backend: Backend): void {
  if (options.cloud && backend !== 'local') throw new KmslabError('usage', cloudBackendLimit(backend));
  if (options.cloud && options.plugin?.socket) {
    throw new KmslabError(
      'usage',
      '--cloud starts the plugin itself: give --plugin-cmd (it gets the emulator in its environment), not --plugin-socket',
    );
  }
  if (options.plugin && backend !== 'local') {
    throw new KmslabError('usage', `an external KMS plugin runs on the local backend for now, not on ${backend}`);
  }
  if (options.image && backend !== 'kind') {
    throw new KmslabError('usage', `--image picks a kind node image; the ${backend} backend has no node image`);
  }
  if (backend === 'sim' && (options.k8sVersion || options.etcdVersion)) {
    throw new KmslabError(
      'usage',
      'the sim models kube-apiserver v1.37; --k8s-version and --etcd-version need --backend local',
    );
  }
  if (backend === 'compose' && (options.k8sVersion || options.etcdVersion)) {
    throw new KmslabError(
      'usage',
      'the compose backend runs the images docker-compose.yml names (KMSLAB_KUBE_APISERVER_IMAGE and KMSLAB_ETCD_IMAGE choose others), not --k8s-version or --etcd-version',
    );
  }
}

async function startOn(backend: Backend, options: StartLabOptions & { removeOnClose: boolean }): Promise<Lab> {
  switch (backend) {
    case 'local':
      return (await import('./backends/local/local-lab.js')).LocalLab.start(options);
    case 'sim':
      return (await import('./backends/sim/sim-lab.js')).SimLab.start(options);
    case 'kind':
      return (await import('./backends/kind/kind-lab.js')).KindLab.start(options);
    case 'compose':
      return (await import('./backends/compose/compose-lab.js')).ComposeLab.start(options);
    default:
      throw new KmslabError(
        'usage',
        `backend "${backend as string}" is not available; use local, sim, kind or compose`,
      );
  }
}

/** cloudBackendLimit says why `--cloud` cannot run on a backend (only the local one runs the emulator and plugin). */
export function cloudBackendLimit(backend: string): string {
  const why =
    backend === 'sim'
      ? 'the sim models the fake KMS, with no cloud behind it'
      : `the emulator and the plugin run as processes on this machine, which a ${backend} lab's apiserver cannot reach`;
  return `--cloud runs on the local backend only: ${why} (use --backend local)`;
}

/**
 * labOptionsFor turns a scenario's needs into start options for any backend. With the user's own
 * EncryptionConfiguration, "KMS on" means that config (its kms providers pointed at the lab's socket).
 */
export function labOptionsFor(needs: LabNeeds, user?: UserEncryption): LocalLabOptions {
  const kmsOn = user ? { kmsRules: user.rules, providerName: user.providerName } : {};
  return {
    apiservers: needs.apiservers ?? 1,
    ...(needs.featureGates || needs.encryption === 'kms-v1'
      ? { featureGates: { ...(needs.encryption === 'kms-v1' ? { KMSv1: true } : {}), ...needs.featureGates } }
      : {}),
    ...(needs.encryption === 'kms-v1' ? { kmsV1: true } : {}),
    ...(needs.controllers?.length ? { controllers: needs.controllers } : {}),
    ...(needs.k8sVersion ? { k8sVersion: needs.k8sVersion } : {}),
    ...kmsOn,
    encryption:
      needs.encryption === 'identity'
        ? () => [identityOnly()]
        : needs.encryption === 'kms-v1'
          ? (socket) => kmsV1Rules(socket)
          : user
            ? (socket) => pointAt(user.rules, socket)
            : (socket, name) => [kmsThenIdentity(name, socket)],
  };
}
