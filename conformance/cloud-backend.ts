import type { KmsCapability } from '../harness/lab.js';
import {
  CLOUD_CAPABILITIES,
  CloudEmulatorProcess,
  labCloud,
  type CloudName,
  type LabCloud,
} from '../harness/kms/index.js';
import type { BackendFailure, CheckBackend } from './backend-checks.js';

// The calls that fetch temporary credentials (STS AssumeRole, AWS's web identity, a credentials endpoint): a region
// outage on them fails every refresh, whichever way the plugin fetches. Two faults: an action list holds 64 bytes.
const REFRESH_ACTIONS = ['AssumeRole,AssumeRoleWithWebIdentity', 'CredentialsURI,ContainerCredentials'];

/** CloudCheckBackend is a cloud emulator behind the plugin under test, and what it can do for the checks. */
export interface CloudCheckBackend extends CheckBackend {
  /** lacks says why a cloud capability is missing (a plugin with static keys has no credentials to expire). */
  lacks(capability: KmsCapability): string | undefined;
}

/** cloudBackend drives a LabCloud for the backend checks: each failure is faults (and expired sessions) at the cloud. */
export function cloudBackend(cloud: LabCloud): CloudCheckBackend {
  const temporary = cloud.principal.startsWith('role:');
  return {
    lacks: (cap) =>
      !(CLOUD_CAPABILITIES as readonly string[]).includes(cap)
        ? undefined
        : cap === 'cloud-expire-credentials' && !temporary
          ? `the plugin calls the cloud as ${cloud.principal} with long-lived keys: it holds no temporary credentials to expire`
          : undefined,
    async fail(failure: BackendFailure) {
      if (failure !== 'expired-credentials') {
        await cloud.addFault({ kind: failure });
        return;
      }
      for (const action of REFRESH_ACTIONS) await cloud.addFault({ kind: 'region-outage', action });
      await cloud.expireCredentials();
    },
    async heal() {
      await cloud.clearFaults();
    },
  };
}

/**
 * standaloneBackend is the backend of a `conformance --cloud` run: the emulator standaloneCloud started in `dir`,
 * read through its control socket (the plugin calls as the cluster's role, or as the cluster's user when it is yours).
 */
export async function standaloneBackend(
  dir: string,
  cloud: CloudName,
  userPlugin: boolean,
): Promise<CloudCheckBackend> {
  return cloudBackend(labCloud(await new CloudEmulatorProcess(dir, cloud).record(userPlugin)));
}
