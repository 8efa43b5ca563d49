import type { ProgressListener } from '../../harness/binaries/build.js';
import { findBinary } from '../../harness/binaries/find.js';

/**
 * awsPlugin finds (building once, from pinned Go modules) kmslab's AWS KMS v2 plugin: k8s.io/kms/pkg/service and the
 * AWS SDK for Go v2, with aws-encryption-provider's behaviour as an option. Its `sdk-call` subcommand is the SDK probe
 * the tests use. `KMSLAB_AWS_KMS_PLUGIN` overrides it.
 */
export async function awsPlugin(onProgress?: ProgressListener): Promise<string> {
  return (await findBinary('aws-kms-plugin', onProgress ? { onProgress } : {})).path;
}
