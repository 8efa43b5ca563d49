import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { KmslabError } from '../../common/errors.js';
import type { EtcdTls } from '../../inspect/index.js';
import type { ApiEndpoint } from '../../kube/api-http.js';
import type { LabRecord } from '../../labs/registry.js';

/** Where a kind lab keeps the etcd client certificate it copied out of the node (kubeadm's healthcheck client). */
export const ETCD_PKI = {
  dir: 'etcd-pki',
  ca: 'ca.crt',
  cert: 'healthcheck-client.crt',
  key: 'healthcheck-client.key',
};

/** endpointFrom reads server, CA and client certificate of the first cluster and user of a kind kubeconfig. */
export function endpointFrom(kubeconfig: string): Required<Omit<ApiEndpoint, 'token'>> {
  const kc = parse(kubeconfig) as {
    clusters?: Array<{ cluster: { server: string; 'certificate-authority-data': string } }>;
    users?: Array<{ user: { 'client-certificate-data': string; 'client-key-data': string } }>;
  };
  const cluster = kc.clusters?.[0]?.cluster;
  const user = kc.users?.[0]?.user;
  if (!cluster || !user) throw new KmslabError('failed', 'kind wrote a kubeconfig without a cluster or user');
  const text = (b64: string) => Buffer.from(b64, 'base64').toString('utf8');
  return {
    server: cluster.server,
    caPem: text(cluster['certificate-authority-data']),
    certPem: text(user['client-certificate-data']),
    keyPem: text(user['client-key-data']),
  };
}

/** kindApiEndpoint: how to reach a recorded kind lab's apiserver (kind's kubeconfig: client certificate, no token). */
export async function kindApiEndpoint(record: LabRecord): Promise<ApiEndpoint> {
  return endpointFrom(await readFile(record.kubeconfig, 'utf8'));
}

/** kindEtcdTls: the client certificate a recorded kind lab reads its etcd with (kubeadm's etcd requires one). */
export async function kindEtcdTls(record: LabRecord): Promise<EtcdTls> {
  const pki = (f: string) => readFile(join(record.dir, ETCD_PKI.dir, f));
  // kubeadm's etcd serving certificate names localhost besides the node's IP.
  return {
    caPem: await pki(ETCD_PKI.ca),
    certPem: await pki(ETCD_PKI.cert),
    keyPem: await pki(ETCD_PKI.key),
    serverName: 'localhost',
  };
}
