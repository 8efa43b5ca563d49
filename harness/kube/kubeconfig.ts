import { stringify } from 'yaml';

import type { ApiEndpoint } from './api-http.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

/** kubeconfigYaml renders a kubeconfig for one cluster (token or client certificate); kubectl and client-node read it. */
export function kubeconfigYaml(options: ApiEndpoint & { name: string }): string {
  const { name, server, caPem, token, certPem, keyPem } = options;
  const user = token
    ? { token }
    : { 'client-certificate-data': b64(certPem ?? ''), 'client-key-data': b64(keyPem ?? '') };
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { server, 'certificate-authority-data': b64(caPem) } }],
    users: [{ name: `${name}-admin`, user }],
    contexts: [{ name, context: { cluster: name, user: `${name}-admin` } }],
    'current-context': name,
  });
}
