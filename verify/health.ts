import { failingChecks } from '../harness/kube/health-checks.js';
import { getText, type ClusterApi } from './cluster-api.js';

/** HealthFacts is what the apiserver's own KMS health check says now. */
export interface HealthFacts {
  /** GET /healthz/kms-providers: 200 and `ok` when every KMS provider's last Status was healthy. */
  kmsProviders: { status: number; body: string };
  /** The checks /readyz?verbose marks failed (`kms-providers`, `etcd`…), when it could be read. */
  readyzFailing?: string[];
  /** The KMS check lines of /readyz?verbose (`[+]kms-providers ok`). */
  readyzKms?: string[];
  /** No KMS check exists: the apiserver runs no KMS provider (or KMS v1 without reload names its checks per provider). */
  noKmsCheck: boolean;
}

/** readHealth asks /healthz/kms-providers and /readyz?verbose. Forbidden answers are kept: the caller says what RBAC is missing. */
export async function readHealth(api: ClusterApi): Promise<HealthFacts> {
  const kmsProviders = await getText(api, '/healthz/kms-providers');
  const readyz = await getText(api, '/readyz?verbose');
  const lines = readyz.body.split('\n').map((l) => l.trim());
  const readable = readyz.status === 200 || lines.some((l) => /^\[[+-]\]/.test(l));
  const kmsLines = lines.filter((l) => /^\[[+-]\]kms-provider/.test(l));
  return {
    kmsProviders,
    ...(readable ? { readyzFailing: failingChecks(readyz.body), readyzKms: kmsLines } : {}),
    noKmsCheck: kmsProviders.status === 404 && readable && kmsLines.length === 0,
  };
}
