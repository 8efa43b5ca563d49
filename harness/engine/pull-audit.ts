import { readFile } from 'node:fs/promises';
import { KmslabError } from '../common/errors.js';
import { engineStatus } from './docker-engine.js';

/** What the engine did since a moment: how many API calls it served, and every line that shows a pull attempt. */
export interface PullAudit {
  log: string;
  since: string;
  apiCalls: number;
  /** API calls kmslab's no-pull plugin refused (they never reached dockerd's handlers). */
  refused: number;
  pullAttempts: string[];
}

// An API call that pulls or looks a registry up, as dockerd's debug log shows it (`docker pull`, a `docker run`
// of a missing image, compose, testcontainers, buildx resolving a FROM). It is an attempt unless the plugin
// refused it, which dockerd logs as "AuthZRequest for <method> <uri> returned error".
const PULL_CALL = [/^(POST) (\/v[\d.]+)?\/images\/create\?\S*fromImage=/, /^(GET) (\/v[\d.]+)?\/distribution\//];

// The engine itself at work on a pull, whatever asked for it (a local build's missing FROM included).
const PULL_WORK = [/Attempting next endpoint for pull/, /Trying to pull/, /pulling image/i];

/**
 * auditPulls reads the logs of the dockerd `kmslab engine start` started (its daemon.json turns on debug, so every
 * API call is logged) and of its no-pull plugin, and returns what the engine served since `since`. A pull attempt
 * is a pull call the plugin let through, a line of dockerd's registry client at work, or anything that reached the
 * plugin's proxy trap (a connection that tried to leave the machine). Failed pulls leave no engine event, only
 * log lines, so the logs are the evidence. Throws when the engine is not kmslab's (its logs are not ours to read).
 */
export async function auditPulls(since: Date): Promise<PullAudit> {
  const status = await engineStatus();
  if (!status.record) {
    throw new KmslabError('failed', 'the engine was not started by kmslab engine start: its API log is not available');
  }
  const dockerd = linesSince(await readFile(status.record.log, 'utf8'), since);
  const plugin = linesSince(await readFile(status.record.plugin.log, 'utf8').catch(() => ''), since);
  const calls = dockerd.map((l) => /msg="Calling (\S+ \S+)"/.exec(l)?.[1]).filter((c) => c !== undefined);
  // Refusals by request line; a call is cleared by one refusal of the same line.
  const refusals = new Map<string, number>();
  for (const line of dockerd) {
    const call = /msg="AuthZRequest for (\S+ \S+) returned error: authorization denied by plugin/.exec(line)?.[1];
    if (call) refusals.set(call, (refusals.get(call) ?? 0) + 1);
  }
  const refused = [...refusals.values()].reduce((a, b) => a + b, 0);
  const letThrough = calls.filter((call) => {
    if (!PULL_CALL.some((p) => p.test(call))) return false;
    const n = refusals.get(call) ?? 0;
    if (n > 0) refusals.set(call, n - 1);
    return n === 0;
  });
  return {
    log: status.record.log,
    since: since.toISOString(),
    apiCalls: calls.length,
    refused,
    pullAttempts: [
      ...letThrough.map((call) => `dockerd served ${call}`),
      ...dockerd.filter((l) => PULL_WORK.some((p) => p.test(l))),
      ...plugin.filter((l) => /outbound attempt/.test(l)),
    ],
  };
}

function linesSince(text: string, since: Date): string[] {
  return text.split('\n').filter((line) => {
    const t = /time="([^"]+)"/.exec(line)?.[1];
    return t !== undefined && new Date(t) >= since;
  });
}
