// Captures raw etcd values written by the real kube-apiserver, one per storage provider, into
// sim/fixtures/stored-values.json for the classifier's unit tests. Run: npx tsx scripts/capture-fixtures.ts
// The lab's throwaway fake-KMS keyring is saved next to them so the KMS v2 value can be decrypted offline.
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LocalLab } from '../harness/index.js';
import { packageRoot } from '../harness/common/paths.js';

const key = (name: string, bytes: number) => ({ name, secret: randomBytes(bytes).toString('base64') });
const lab = await LocalLab.start({
  name: `fixtures-${process.pid}`,
  removeOnClose: true,
  encryption: (socket, provider) => [
    { resources: ['secrets'], providers: [{ kms: { name: provider, socket } }, { identity: {} }] },
    { resources: ['configmaps'], providers: [{ aescbc: { keys: [key('cbc-key', 32)] } }] },
    { resources: ['serviceaccounts'], providers: [{ aesgcm: { keys: [key('gcm-key', 32)] } }] },
    { resources: ['podtemplates'], providers: [{ secretbox: { keys: [key('box-key', 32)] } }] },
  ],
});
try {
  const api = lab.api;
  await api.createSecret({ namespace: 'default', name: 'fixture' }, { password: 'fixture-password' });
  const post = (path: string, body: unknown) =>
    api.request('POST', path, body).then((r) => {
      if (r.status >= 300) throw new Error(`${path}: ${r.status} ${r.body}`);
    });
  await post('/api/v1/namespaces/default/configmaps', { metadata: { name: 'fixture' }, data: { a: 'b' } });
  await post('/api/v1/namespaces/default/serviceaccounts', { metadata: { name: 'fixture' } });
  await post('/api/v1/namespaces/default/podtemplates', {
    metadata: { name: 'fixture' },
    template: { spec: { containers: [{ name: 'c', image: 'busybox' }] } },
  });
  const keys = [
    '/registry/secrets/default/fixture',
    '/registry/configmaps/default/fixture',
    '/registry/serviceaccounts/default/fixture',
    '/registry/podtemplates/default/fixture',
    '/registry/namespaces/default',
  ];
  const values = [];
  for (const k of keys) values.push({ key: k, value: (await lab.etcd.get(k))!.toString('base64') });
  const out = join(packageRoot, 'sim/fixtures');
  await writeFile(
    join(out, 'stored-values.json'),
    JSON.stringify({ apiserver: lab.record.versions.kubeApiserver, provider: lab.providerName, values }, null, 2) +
      '\n',
  );
  const ring = await readFile(join(lab.record.kms.stateDir, 'keyring.json'), 'utf8');
  await writeFile(join(out, 'throwaway-keyring.json'), ring);
  console.log(`captured ${values.length} values from kube-apiserver ${lab.record.versions.kubeApiserver} into ${out}`);
} finally {
  await lab.close();
}
