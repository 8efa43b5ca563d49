import { isUtf8 } from 'node:buffer';
import { BinaryReader } from '@bufbuild/protobuf/wire';
import type { KmsMethod } from '../fake-kms/index.js';
import { DecryptResponse, EncryptResponse, StatusResponse } from '../gen/kms/v2/service.js';

// proto3 string fields must hold UTF-8; Go's protobuf (what kube-apiserver decodes with) refuses a message where
// one does not, while protobuf-es quietly replaces the bad bytes with U+FFFD. Decoding here notes which fields held
// such bytes, so a caller can refuse the answer as the apiserver would, or report it, instead of "repairing" it.

const INVALID = Symbol('fields with invalid UTF-8');
const lenient = new TextDecoder('utf-8', { ignoreBOM: true });

// The string fields of each answer, by their proto names (map keys are strings too).
const STRING_FIELDS: Record<KmsMethod, (m: never) => Array<[string, string]>> = {
  Status: (m: StatusResponse) => [
    ['version', m.version],
    ['healthz', m.healthz],
    ['key_id', m.keyId],
  ],
  Encrypt: (m: EncryptResponse) => [
    ['key_id', m.keyId],
    ...Object.keys(m.annotations).map((k): [string, string] => ['an annotation key', k]),
  ],
  Decrypt: () => [],
};
const DECODERS = { Status: StatusResponse, Encrypt: EncryptResponse, Decrypt: DecryptResponse };

/** decodeNotingUtf8 is a response decoder for `method` that records which string fields were not valid UTF-8. */
export function decodeNotingUtf8(method: KmsMethod): (bytes: Buffer) => object {
  return (bytes) => {
    const bad: string[] = [];
    const reader = new BinaryReader(bytes, (raw) => {
      const text = lenient.decode(raw);
      if (!isUtf8(raw)) bad.push(text);
      return text;
    });
    const message = DECODERS[method].decode(reader);
    if (bad.length) {
      const fields = STRING_FIELDS[method](message as never)
        .filter(([, value]) => bad.includes(value))
        .map(([name]) => name);
      Object.defineProperty(message, INVALID, { value: [...new Set(fields)], enumerable: false });
    }
    return message;
  };
}

/** invalidUtf8Fields names the string fields of a decoded answer that were not valid UTF-8, if any. */
export function invalidUtf8Fields(message: object): string[] | undefined {
  return (message as { [INVALID]?: string[] })[INVALID];
}
