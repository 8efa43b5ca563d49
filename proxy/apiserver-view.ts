import type { KmsCallError, KmsMethod } from '../fake-kms/index.js';
import type { DecryptResponse, EncryptResponse, StatusResponse } from '../gen/kms/v2/service.js';
import { annotationsProblem, encryptedDEKSourceProblem, keyIdProblem } from '../sim/index.js';
import { InvalidUtf8Answer } from './upstream-plugin.js';

/** What kube-apiserver wraps with Encrypt and expects back from Decrypt: a 32-byte DEK seed (or, before 1.29, key). */
const DEK_SEED_BYTES = 32;

const short = (text: string) => JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text);

/**
 * ApiserverView judges each answer the proxy passes on as kube-apiserver will (k8s.io/apiserver
 * `encryptionconfig/config.go` isKMSv2ProviderHealthyAndMaybeRotateDEK and rotateDEKOnKeyIDChange, `kmsv2/envelope.go`
 * GenerateTransformer and ValidateEncryptedObject; the size and annotation rules are the sim's, `sim/kms-rules.ts`),
 * and says why the apiserver will refuse it — or nothing. It remembers what the apiserver has been told: the first
 * version it accepted and the key_id of the last Status, which Encrypt must repeat.
 */
export class ApiserverView {
  private version: string | undefined;
  private statusKeyId: string | undefined;

  judge(method: KmsMethod, answer: { response: unknown } | { error: KmsCallError }): string | undefined {
    if ('error' in answer) {
      return answer.error instanceof InvalidUtf8Answer
        ? `its Go protobuf refuses invalid UTF-8 in a string field (${answer.error.fields.join(', ')}): the call fails with INTERNAL`
        : undefined;
    }
    if (method === 'Status') return this.status(answer.response as StatusResponse);
    if (method === 'Encrypt') return this.encrypt(answer.response as EncryptResponse);
    return this.decrypt(answer.response as DecryptResponse);
  }

  private status(s: StatusResponse): string | undefined {
    const problems: string[] = [];
    if (s.version !== 'v2' && s.version !== 'v2beta1') {
      problems.push(`expected KMSv2 API version v2, got ${short(s.version)}`);
    } else {
      this.version ??= s.version;
      if (s.version !== this.version) {
        problems.push(
          `KMSv2 API version should not change after the initial status response version ${this.version}, got ${s.version}`,
        );
      }
    }
    const keyId = keyIdProblem(s.keyId);
    if (keyId) problems.push(`got invalid KMSv2 KeyID: ${keyId}`);
    else this.statusKeyId = s.keyId;
    return problems.length ? problems.join('; ') : undefined;
  }

  private encrypt(e: EncryptResponse): string | undefined {
    const problem =
      encryptedDEKSourceProblem(e.ciphertext) ??
      keyIdProblem(e.keyId) ??
      (this.statusKeyId !== undefined && e.keyId !== this.statusKeyId
        ? `the key_id of Encrypt (${short(e.keyId)}) differs from the key_id of the last Status (${short(this.statusKeyId)}), so the DEK seed is thrown away`
        : annotationsProblem(e.annotations));
    return problem;
  }

  private decrypt(d: DecryptResponse): string | undefined {
    if (d.plaintext.length === DEK_SEED_BYTES) return undefined;
    return `it only ever wraps ${DEK_SEED_BYTES}-byte DEK seeds: a ${d.plaintext.length}-byte plaintext is not the one it asked for, and data opened with it fails to decrypt`;
  }
}
