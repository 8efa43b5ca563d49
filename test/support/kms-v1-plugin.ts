// The KMS v1 plugin moved to fake-kms/ so that labs (and the kms-v1-migration scenario) can run it.
export { KmsV1Plugin, type V1Calls } from '../../fake-kms/kms-v1-plugin.js';
