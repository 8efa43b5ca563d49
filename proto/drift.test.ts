import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { describe, expect, test } from 'vitest';
import { components } from '../harness/binaries/index.js';

// Our .proto files are written from the field tables; these tests hold them against the upstream ones that the
// kube-apiserver build downloaded into the Go module cache (same version as the pinned apiserver).
const staging = components['kube-apiserver'].defaultVersion.replace(/^v1\./, 'v0.');
const modcache = (() => {
  try {
    return execFileSync('go', ['env', 'GOMODCACHE'], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
})();
const inCache = (modulePath: string) =>
  join(modcache, modulePath.replace(/^k8s\.io\/([^/]+)\//, `k8s.io/$1@${staging}/`));
// Without the module cache there is nothing to compare with: say why in the test name, and in CI (where
// `kmslab build` ran first and filled the cache) refuse to skip, so a broken lookup cannot pass silently.
const available = (file: string) => modcache !== '' && existsSync(file);
const why = (file: string) =>
  available(file) ? '' : ` [cannot compare: ${file} is not in the Go module cache; run kmslab build first]`;
const check = (file: string) => {
  const skip = !available(file) && !process.env.CI;
  return Object.assign(test.skipIf(skip), {
    title: why(file),
    guard: () => {
      if (!available(file)) throw new Error(`upstream ${file} is missing (GOMODCACHE=${modcache || 'unknown'})`);
    },
  });
};

// Upstream's generated.proto files import each other by module path; map those onto the module cache.
const load = (file: string) => {
  const root = new protobuf.Root();
  root.resolvePath = (origin, target) =>
    target.startsWith('k8s.io/') ? inCache(target) : protobuf.util.path.resolve(origin, target);
  return root.loadSync(file, { keepCase: true });
};
const ours = (file: string) => load(join(import.meta.dirname, file));

const fieldsOf = (type: protobuf.Type, only?: number[]) =>
  type.fieldsArray
    .filter((f) => !only || only.includes(f.id))
    .map((f) => ({
      name: f.name,
      id: f.id,
      type: f.type.split('.').pop(),
      map: f instanceof protobuf.MapField ? f.keyType : null,
      repeated: f.repeated,
    }))
    .sort((a, b) => a.id - b.id);

const kmsApi = inCache('k8s.io/kms/apis/v2/api.proto');
describe('proto/kms/v2/service.proto matches upstream k8s.io/kms', () => {
  const t = check(kmsApi);
  t(`same messages, fields, numbers, types and methods${t.title}`, () => {
    t.guard();
    const mine = ours('kms/v2/service.proto');
    const theirs = load(kmsApi);
    for (const m of [
      'StatusRequest',
      'StatusResponse',
      'DecryptRequest',
      'DecryptResponse',
      'EncryptRequest',
      'EncryptResponse',
    ]) {
      expect(fieldsOf(mine.lookupType(`v2.${m}`)), m).toEqual(fieldsOf(theirs.lookupType(`v2.${m}`)));
    }
    const methods = (root: protobuf.Root) =>
      Object.values(root.lookupService('v2.KeyManagementService').methods)
        .map((m) => [m.name, m.requestType, m.responseType])
        .sort();
    expect(methods(mine)).toEqual(methods(theirs));
  });
});

const storedObject = inCache('k8s.io/apiserver/pkg/storage/value/encrypt/envelope/kmsv2/v2/api.proto');
describe('proto/storage/v2/encrypted_object.proto matches upstream k8s.io/apiserver', () => {
  const t = check(storedObject);
  t(`same EncryptedObject fields and DEK source types${t.title}`, () => {
    t.guard();
    const mine = ours('storage/v2/encrypted_object.proto');
    const theirs = load(storedObject);
    expect(fieldsOf(mine.lookupType('v2.EncryptedObject'))).toEqual(fieldsOf(theirs.lookupType('v2.EncryptedObject')));
    expect(mine.lookupEnum('v2.EncryptedDEKSourceType').values).toEqual(
      theirs.lookupEnum('v2.EncryptedDEKSourceType').values,
    );
  });
});

// The k8s object subset: every field we declare must exist upstream with the same name, number and type.
const k8sSubset = [
  ['TypeMeta', 'k8s.io/apimachinery/pkg/runtime/generated.proto', 'k8s.io.apimachinery.pkg.runtime.TypeMeta'],
  ['Unknown', 'k8s.io/apimachinery/pkg/runtime/generated.proto', 'k8s.io.apimachinery.pkg.runtime.Unknown'],
  ['Time', 'k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto', 'k8s.io.apimachinery.pkg.apis.meta.v1.Time'],
  [
    'ObjectMeta',
    'k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto',
    'k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta',
  ],
  ['Secret', 'k8s.io/api/core/v1/generated.proto', 'k8s.io.api.core.v1.Secret'],
] as const;

describe.each(k8sSubset)('proto/k8s/secret.proto %s is a subset of upstream', (message, upstream, fullName) => {
  const t = check(inCache(upstream));
  t(`its fields match ${fullName}${t.title}`, () => {
    t.guard();
    const mine = ours('k8s/secret.proto').lookupType(`kmslab.k8s.${message}`);
    const ids = mine.fieldsArray.map((f) => f.id);
    expect(fieldsOf(mine)).toEqual(fieldsOf(load(inCache(upstream)).lookupType(fullName), ids));
  });
});
