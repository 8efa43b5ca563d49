import { stringify } from 'yaml';

/** kubeconfigYaml renders a kubeconfig for one cluster with a bearer token; kubectl and client-node both read it. */
export function kubeconfigYaml(options: { name: string; server: string; caPem: string; token: string }): string {
  const { name, server, caPem, token } = options;
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') } }],
    users: [{ name: `${name}-admin`, user: { token } }],
    contexts: [{ name, context: { cluster: name, user: `${name}-admin` } }],
    'current-context': name,
  });
}
