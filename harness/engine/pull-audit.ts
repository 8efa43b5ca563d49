import { readFile } from 'node:fs/promises';
import { KmslabError } from '../common/errors.js';
import { engineStatus } from './docker-engine.js';

/** What dockerd did since a moment: how many API calls it served, and every line that shows a pull attempt. */
export interface PullAudit {
  log: string;
  since: string;
  apiCalls: number;
  pullAttempts: string[];
}

// A pull, as dockerd's debug log shows it: the API call (`docker pull`, a `docker run` of a missing image, compose,
// testcontainers), a registry lookup (buildx resolving a FROM), or the registry client trying an endpoint.
const PULL = [
  /Calling POST \/v[\d.]+\/images\/create\?[^\s"]*fromImage=/,
  /Calling GET \/v[\d.]+\/distribution\//,
  /Attempting next endpoint for pull/,
  /Trying to pull/,
  /pulling image/i,
];

/**
 * auditPulls reads the log of the dockerd `kmslab engine start` started (its daemon.json turns on debug, so every
 * API call is logged) and returns what it served since `since`. Failed pulls leave no engine event, only log lines,
 * so the log is the evidence. Throws when the engine is not kmslab's (its log is not ours to read).
 */
export async function auditPulls(since: Date): Promise<PullAudit> {
  const status = await engineStatus();
  if (!status.record) {
    throw new KmslabError('failed', 'the engine was not started by kmslab engine start: its API log is not available');
  }
  const lines = (await readFile(status.record.log, 'utf8')).split('\n').filter((line) => {
    const t = /time="([^"]+)"/.exec(line)?.[1];
    return t !== undefined && new Date(t) >= since;
  });
  return {
    log: status.record.log,
    since: since.toISOString(),
    apiCalls: lines.filter((l) => /msg="Calling (GET|POST|PUT|DELETE|HEAD) /.test(l)).length,
    pullAttempts: lines.filter((l) => PULL.some((p) => p.test(l))),
  };
}
