import { existsSync, readFileSync, rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { CloudError } from '../core/cloud-error.js';
import type { CloudCore } from '../core/cloud-core.js';
import { uuidBytes, uuidText } from '../core/ids.js';
import { ManagedProcess } from '../../harness/process/managed-process.js';
import type { EncryptionContext, KeyCrypto } from './key-crypto.js';

/** What the front keeps in its state for local-kms: the backing key of each key version. */
export interface LocalKmsState {
  /** versionId → ARN of the local-kms key holding that version's material. */
  backing: Record<string, string>;
}

// Ciphertext layout: 'K', the version's UUID (16 bytes), then local-kms's own blob (which names its backing key, and
// authenticates the encryption context). An altered header names another version, whose backing key then refuses.
const MAGIC = 0x4b;
const HEADER = 17;

/**
 * LocalKms runs github.com/nsmithuk/local-kms (kmslab's loopback-only build) for the AWS front: one local-kms key per
 * key version holds the material and does the AES-GCM, while states, versions, rotation and grants stay in the core.
 * Backing keys are made the first time a version encrypts. Requests to it carry no credentials: it checks none, and it
 * listens on 127.0.0.1 only.
 */
export class LocalKms implements KeyCrypto {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });
  private readonly making = new Map<string, Promise<string>>();

  private constructor(
    private readonly process: ManagedProcess,
    readonly url: string,
    private readonly core: CloudCore<unknown, LocalKmsState>,
  ) {}

  static async start(o: {
    binary: string;
    dataDir: string;
    logFile: string;
    region: string;
    accountId: string;
    core: CloudCore<unknown, LocalKmsState>;
  }): Promise<LocalKms> {
    await mkdir(o.dataDir, { recursive: true, mode: 0o700 });
    const addressFile = join(o.dataDir, 'address');
    rmSync(addressFile, { force: true });
    const p = await ManagedProcess.spawn({
      name: 'local-kms',
      command: o.binary,
      args: [
        ...['--listen', '127.0.0.1:0', '--data-dir', join(o.dataDir, 'db'), '--address-file', addressFile],
        ...['--region', o.region, '--account-id', o.accountId],
      ],
      logFile: o.logFile,
      env: { PATH: process.env.PATH ?? '' },
    });
    try {
      const url = await p.waitUntil(
        async () => (existsSync(addressFile) ? readFileSync(addressFile, 'utf8').trim() || undefined : undefined),
        { timeoutMs: 15_000, what: 'local-kms to listen' },
      );
      return new LocalKms(p, url, o.core);
    } catch (error) {
      await p.stop();
      throw error;
    }
  }

  async close(): Promise<void> {
    this.agent.destroy();
    await this.process.stop(5_000);
  }

  async encrypt(keyId: string, plaintext: Buffer, context: EncryptionContext) {
    const { versionId } = this.core.keys.usePrimary(keyId);
    const backing = await this.backingOf(keyId, versionId);
    const out = await this.call('Encrypt', {
      KeyId: backing,
      Plaintext: plaintext.toString('base64'),
      ...(Object.keys(context).length ? { EncryptionContext: context } : {}),
    });
    const inner = Buffer.from(String(out.CiphertextBlob), 'base64');
    return { blob: Buffer.concat([Buffer.from([MAGIC]), uuidBytes(versionId), inner]), versionId };
  }

  keyOf(blob: Buffer): { keyId: string; versionId: string } {
    if (blob.length <= HEADER || blob[0] !== MAGIC)
      throw new CloudError('InvalidCiphertext', 'not a ciphertext of this KMS');
    const versionId = uuidText(blob.subarray(1, HEADER));
    return { keyId: this.core.keys.ownerOf(versionId), versionId };
  }

  async decrypt(blob: Buffer, context: EncryptionContext) {
    const { keyId, versionId } = this.keyOf(blob);
    this.core.keys.useVersion(versionId);
    const backing = this.core.front.backing[versionId];
    if (!backing) throw new CloudError('InvalidCiphertext', 'no material was ever made for that key version');
    let out: Record<string, unknown>;
    try {
      out = await this.call('Decrypt', {
        CiphertextBlob: blob.subarray(HEADER).toString('base64'),
        ...(Object.keys(context).length ? { EncryptionContext: context } : {}),
      });
    } catch (error) {
      // local-kms says AccessDenied when the blob names a key it does not have: here, an altered ciphertext.
      if (error instanceof LocalKmsError && /InvalidCiphertext|AccessDenied|Validation/.test(error.code))
        throw new CloudError('InvalidCiphertext', 'the ciphertext was altered or its encryption context differs');
      throw error;
    }
    if (out.KeyId !== backing)
      throw new CloudError('InvalidCiphertext', 'the ciphertext names another key version than its header');
    return { plaintext: Buffer.from(String(out.Plaintext), 'base64'), keyId, versionId };
  }

  // backingOf returns the local-kms key of a version, making it (once, even under concurrent calls) the first time.
  private async backingOf(keyId: string, versionId: string): Promise<string> {
    const known = this.core.front.backing[versionId];
    if (known) return known;
    let made = this.making.get(versionId);
    if (!made) {
      made = (async () => {
        const out = await this.call('CreateKey', {
          Description: `kmslab: material of key ${keyId}, version ${versionId}`,
        });
        const arn = String((out.KeyMetadata as { Arn: string }).Arn);
        await this.core.mutate(() => {
          this.core.front = { ...this.core.front, backing: { ...this.core.front.backing, [versionId]: arn } };
        });
        return arn;
      })().finally(() => this.making.delete(versionId));
      this.making.set(versionId, made);
    }
    return made;
  }

  private call(operation: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const payload = JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        this.url,
        {
          method: 'POST',
          agent: this.agent,
          timeout: 10_000,
          headers: {
            'content-type': 'application/x-amz-json-1.1',
            'x-amz-target': `TrentService.${operation}`,
            'content-length': Buffer.byteLength(payload),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            let answer: Record<string, unknown> = {};
            try {
              answer = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
            } catch {
              // not JSON: reported below by its status
            }
            if (res.statusCode === 200) return resolve(answer);
            reject(new LocalKmsError(String(answer.__type ?? `HTTP ${res.statusCode}`), operation));
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('local-kms did not answer within 10 s')));
      req.on('error', (error) => reject(new Error(`local-kms ${operation} failed: ${error.message}`)));
      req.end(payload);
    });
  }
}

/** LocalKmsError is a refusal by local-kms; only its code is kept (its messages can echo request data). */
export class LocalKmsError extends Error {
  constructor(
    readonly code: string,
    operation: string,
  ) {
    super(`local-kms refused ${operation}: ${code}`);
    this.name = 'LocalKmsError';
  }
}
