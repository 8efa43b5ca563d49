import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { describe, expect, test } from 'vitest';
import { components } from '../harness/binaries/index.js';

// Our .proto files are written from the field tables; this guards them against the upstream ones that the
// kube-apiserver build downloaded into the Go module cache (same version as the pinned apiserver).
const staging = components['kube-apiserver'].defaultVersion.replace(/^v1\./, 'v0.');
const modcache = (() => {
  try {
    return execFileSync('go', ['env', 'GOMODCACHE'], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
})();

const pairs = [
  {
    ours: 'kms/v2/service.proto',
    upstream: join(modcache, `k8s.io/kms@${staging}/apis/v2/api.proto`),
    messages: [
      'StatusRequest',
      'StatusResponse',
      'DecryptRequest',
      'DecryptResponse',
      'EncryptRequest',
      'EncryptResponse',
    ],
    service: 'KeyManagementService',
  },
  {
    ours: 'storage/v2/encrypted_object.proto',
    upstream: join(modcache, `k8s.io/apiserver@${staging}/pkg/storage/value/encrypt/envelope/kmsv2/v2/api.proto`),
    messages: ['EncryptedObject'],
    enums: ['EncryptedDEKSourceType'],
  },
];

const load = (file: string) => new protobuf.Root().loadSync(file, { keepCase: true });
const shape = (root: protobuf.Root, name: string) => {
  const type = root.lookupType(`v2.${name}`);
  return type.fieldsArray
    .map((f) => ({
      name: f.name,
      id: f.id,
      type: f.type,
      map: f instanceof protobuf.MapField ? f.keyType : null,
      repeated: f.repeated,
    }))
    .sort((a, b) => a.id - b.id);
};

describe.each(pairs)('proto/$ours matches upstream', (pair) => {
  const present = modcache !== '' && existsSync(pair.upstream);
  test.skipIf(!present)(`same package, messages, field names, numbers and types (${pair.upstream})`, () => {
    const ours = load(join(import.meta.dirname, pair.ours));
    const theirs = load(pair.upstream);
    for (const m of pair.messages) expect(shape(ours, m), m).toEqual(shape(theirs, m));
    for (const e of pair.enums ?? [])
      expect(ours.lookupEnum(`v2.${e}`).values).toEqual(theirs.lookupEnum(`v2.${e}`).values);
    if (pair.service) {
      const methods = (root: protobuf.Root) =>
        Object.values(root.lookupService(`v2.${pair.service}`).methods).map((m) => [
          m.name,
          m.requestType,
          m.responseType,
        ]);
      expect(methods(ours).sort()).toEqual(methods(theirs).sort());
    }
  });
});
