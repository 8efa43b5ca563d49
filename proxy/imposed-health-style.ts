import { status as GrpcStatus } from '@grpc/grpc-js';
import { KmsCallError, type HealthStyle } from '../fake-kms/index.js';
import type { StatusResponse } from '../gen/kms/v2/service.js';
import { printable } from '../harness/common/printable.js';
import { InvalidUtf8Answer, isTransportFailure } from './upstream-plugin.js';

/**
 * ImposedHealthStyle makes the plugin behind the proxy answer Status in a health style it may not have
 * (kubernetes#138950), so a cluster can be shown what the other style would do to it:
 * - `fail-rpc`: an answer whose healthz is not "ok" becomes a failed call (FAILED_PRECONDITION, naming what the
 *   plugin said), so the apiserver stops extending its write key;
 * - `not-ok-keep-key-id`: a Status the plugin refuses with an error becomes an answer with healthz naming that
 *   error and the key_id of the plugin's last healthy answer, so the apiserver keeps extending its write key.
 * Only answers are changed: a plugin that cannot be reached, answers too late or with invalid UTF-8 still fails,
 * and before any healthy answer there is no key_id to keep. Unset: the plugin's own style.
 */
export class ImposedHealthStyle {
  style: HealthStyle | undefined;
  private lastHealthy: { keyId: string; version: string } | undefined;

  constructor(style?: HealthStyle) {
    this.style = style;
  }

  async status(call: () => Promise<StatusResponse>): Promise<StatusResponse> {
    let answer: StatusResponse;
    try {
      answer = await call();
    } catch (error) {
      const refused =
        error instanceof KmsCallError && !(error instanceof InvalidUtf8Answer) && !isTransportFailure(error);
      if (
        this.style === 'not-ok-keep-key-id' &&
        this.lastHealthy &&
        refused &&
        error.code !== GrpcStatus.DEADLINE_EXCEEDED
      ) {
        const code = GrpcStatus[error.code] ?? String(error.code);
        return {
          version: this.lastHealthy.version,
          healthz: `the plugin's Status failed, ${code}: ${printable(error.message, 200)} (kmslab proxy, health style not-ok-keep-key-id)`,
          keyId: this.lastHealthy.keyId,
        };
      }
      throw error;
    }
    if (answer.healthz === 'ok') this.lastHealthy = { keyId: answer.keyId, version: answer.version };
    else if (this.style === 'fail-rpc') {
      throw new KmsCallError(
        GrpcStatus.FAILED_PRECONDITION,
        `the plugin answered healthz "${printable(answer.healthz, 200)}" (kmslab proxy, health style fail-rpc: a Status that is not ok fails)`,
      );
    }
    return answer;
  }
}
