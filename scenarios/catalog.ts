import { enableExisting } from './enable-existing.js';
import { enableNew } from './enable-new.js';
import { keyDisabledBeforeMigration } from './key-disabled-before-migration.js';
import { keyDisabled } from './key-disabled.js';
import { kmsOutageRestart } from './kms-outage-restart.js';
import { kmsOutage } from './kms-outage.js';
import type { Scenario } from './model.js';
import { rotate } from './rotate.js';
import { haRotationRollout } from './ha-rotation-rollout.js';
import { haKeyDisabled } from './ha-key-disabled.js';
import { haOutageRestart } from './ha-outage-restart.js';
import { cloudEnable } from './cloud-enable.js';
import { cloudGrantRevoked } from './cloud-grant-revoked.js';
import { cloudCredentialsExpire } from './cloud-credentials-expire.js';
import { cloudKeyDeletion, cloudKeyDestroyed } from './cloud-key-deletion.js';
import { cloudThrottledRestart } from './cloud-throttled-restart.js';
import { cloudUnreachable } from './cloud-unreachable.js';
import { cloudRotateSameKeyId } from './cloud-rotate-same-key-id.js';
import { disabledKeyWritesGoOn, disabledKeyWritesStop } from './disabled-key-writes.js';
import { haWritesGoOn, haWritesStop } from './ha-writes.js';
import { unsafeDelete } from './unsafe-delete.js';
import { longOutage } from './long-outage.js';
import { kmsV1Migration } from './kms-v1-migration.js';
import { svmRotate } from './svm-rotate.js';
import { svmKeyDisabled } from './svm-key-disabled.js';
import { svmEnableExisting } from './svm-enable-existing.js';
import { upgradeKeepsData } from './upgrade-keeps-data.js';
import { twoProviders } from './two-providers.js';
import { unsafeDeleteGateOff } from './unsafe-delete-gate-off.js';

/** Every scenario kmslab ships, in the order `kmslab scenarios` lists them. */
export const SCENARIOS: Scenario[] = [
  enableNew,
  enableExisting,
  rotate,
  kmsOutage,
  kmsOutageRestart,
  keyDisabled,
  keyDisabledBeforeMigration,
  haRotationRollout,
  haKeyDisabled,
  haOutageRestart,
  disabledKeyWritesGoOn,
  disabledKeyWritesStop,
  haWritesGoOn,
  haWritesStop,
  unsafeDelete,
  unsafeDeleteGateOff,
  longOutage,
  kmsV1Migration,
  svmRotate,
  svmKeyDisabled,
  svmEnableExisting,
  upgradeKeepsData,
  twoProviders,
  cloudEnable,
  cloudGrantRevoked,
  cloudCredentialsExpire,
  cloudKeyDeletion,
  cloudKeyDestroyed,
  cloudThrottledRestart,
  cloudUnreachable,
  cloudRotateSameKeyId,
];

/** selectScenarios picks scenarios by name and/or tag; unknown names are an error that lists the known ones. */
export function selectScenarios(names: string[], tags: string[] = []): Scenario[] {
  const unknown = names.filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length) {
    throw new Error(`unknown scenario ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`);
  }
  const picked = SCENARIOS.filter(
    (s) => (names.length === 0 || names.includes(s.name)) && tags.every((t) => s.tags.includes(t)),
  );
  return picked;
}
