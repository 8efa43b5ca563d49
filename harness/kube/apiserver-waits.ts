import { KmslabError } from '../common/errors.js';
import { poll } from '../common/wait.js';
import type { LabApi, StartWait } from '../lab.js';
import { reloadFailures, reloadOutcome } from './reload.js';

/** waitUntilServing polls /readyz (or /livez for `live`) through the API until it answers 200. */
export async function waitUntilServing(api: LabApi, wait: StartWait, who: string, timeoutMs = 180_000): Promise<void> {
  const path = wait === 'live' ? '/livez' : '/readyz';
  await poll(async () => ((await api.request('GET', path)).status === 200 ? true : undefined), {
    timeoutMs,
    intervalMs: 500,
    what: `${who} ${path}`,
  });
}

/**
 * reloadEncryption writes a new EncryptionConfiguration (through `write`, which returns the file's sha256) and waits
 * until the running apiserver has loaded it, or fails as soon as it reports a rejected reload.
 */
export async function reloadEncryption(
  api: LabApi,
  who: string,
  write: () => Promise<string>,
  timeoutMs = 180_000,
): Promise<void> {
  const metrics = async () => (await api.request('GET', '/metrics')).body;
  const failuresBefore = reloadFailures(await metrics());
  const hash = await write();
  try {
    await poll(async () => reloadOutcome(await metrics(), hash, failuresBefore, who), {
      timeoutMs,
      intervalMs: 1000,
      what: `${who} to load encryption config ${hash}`,
    });
  } catch (error) {
    throw new KmslabError('failed', (error as Error).message);
  }
}
