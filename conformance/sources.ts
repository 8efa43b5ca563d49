// Where each rule comes from, read in k8s.io/apiserver v0.37.2 and k8s.io/kms v0.37.2 (the modules kube-apiserver
// v1.37.2 is built from) and on the Kubernetes docs' kms-provider task page (the section named in each entry).
const AS = 'k8s.io/apiserver v0.37';
const DOCS = 'kubernetes.io tasks/administer-cluster/kms-provider, KMS v2 plugin notes';

export const SOURCES = {
  statusProbe: `${AS} server/options/encryptionconfig/config.go isKMSv2ProviderHealthyAndMaybeRotateDEK: healthz must be exactly "ok", version v2 or v2beta1, key_id valid`,
  statusFails: `${AS} encryptionconfig/config.go: a failed Status marks the provider unhealthy and does not extend the write key (kmsv2PluginWriteDEKSourceMaxTTL, 3 min)`,
  writeKeyExtension: `${AS} encryptionconfig/config.go rotateDEKOnKeyIDChange: every Status with a valid, unchanged key_id extends the write key by 3 min, whatever healthz says (kubernetes#138950)`,
  encryptKeyId: `${AS} encryptionconfig/config.go rotateDEKOnKeyIDChange (a DEK seed is kept only if Encrypt's key_id equals the Status key_id); ${DOCS}, "Understanding key_id and Key Rotation" (must)`,
  envelope: `${AS} storage/value/encrypt/envelope/kmsv2/envelope.go GenerateTransformer → ValidateEncryptedObject (ValidateKeyID, validateEncryptedDEKSource, validateAnnotations)`,
  annotations: `${AS} kmsv2/envelope.go validateAnnotations; ${DOCS}, "Encryption" (keys must be fully qualified domain names)`,
  utf8: 'google.golang.org/protobuf, which kube-apiserver decodes answers with: a proto3 string field with invalid UTF-8 fails the decode ("string field contains invalid UTF-8"), and grpc-go fails the call with INTERNAL (rpc_util.go)',
  timeout: `${AS} kmsv2/grpc_service.go: each Status, Encrypt and Decrypt gets the provider's timeout (EncryptionConfiguration kms.timeout, default 3s)`,
  versionV2: `${DOCS}: the Kubernetes project recommends the stable v2 API (v2beta1 is still accepted)`,
  keyIdStable: `${DOCS}, "Understanding key_id and Key Rotation": the key_id must be stable and must not flip-flop`,
  keyIdNew: `${DOCS}, "Understanding key_id and Key Rotation": key_ids must never be re-used, even for a reinstated key`,
  decryptInverse: `${DOCS}, "Decryption": Decrypt is the inverse of Encrypt; ${AS} kmsv2/envelope.go unwraps every stored DEK seed this way`,
  decryptKeyId: `${DOCS}, "Decryption": a plugin must check that it understands the key_id and must not decrypt what it did not encrypt`,
  decryptLoad: `${DOCS}, "Decryption": the apiserver may make thousands of Decrypt calls at start to fill its watch cache; they must be answered as fast as possible`,
  latencyAim: `${DOCS}, "Encryption" and "Decryption": aim for Encrypt under 100 ms and Decrypt under 10 ms`,
  oldKeys: `${AS} kmsv2/envelope.go TransformFromStorage sends the key_id stored with each object; a plugin that cannot open it any more loses that data`,
  disabledKey:
    'a disabled key must not be usable (cloud KMS semantics, e.g. AWS KMS DisableKey); otherwise disabling a key in an incident protects nothing',
  restart: 'data loss: what the plugin wrapped before a restart is stored in etcd and is unwrapped after it',
  grpc: 'gRPC status codes (grpc/grpc doc/statuscodes.md): a failure carries a code that says what went wrong, and a message',
  integrity:
    'AES-GCM and every AEAD: a modified ciphertext is refused, never opened to other bytes (the apiserver would use a wrong DEK: the data is lost)',
  integrityRefused: 'AES-GCM and every AEAD: a modified ciphertext is refused',
  randomized:
    'NIST SP 800-38D (GCM) and every IND-CPA scheme: a fresh nonce per encryption, so equal plaintexts do not show',
  backendDeadline: `${AS} kmsv2/grpc_service.go: each call gets the provider's timeout (default 3s), whatever the plugin waits for behind it; a plugin still waiting on its cloud when it ends has failed the call (vault-kubernetes-kms hung past 3 s with its Vault down, kmslab issue 20)`,
  backendCredentials:
    "practice (vault-kubernetes-kms #304; ack-kms-plugin's 8-minute STS refresh): temporary credentials that expire while their refresh fails must fail calls fast and be fetched again once the refresh works, without a restart",
  sizes: `practice: the apiserver only wraps 32-byte seeds (${AS} envelope.go GenerateTransformer), so other sizes show the plugin does not depend on that`,
} as const;
