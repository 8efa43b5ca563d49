import type { SimClock } from '../clock.js';

/** KmsPlugin is the plugin as the modelled apiserver dials it. Failures carry a gRPC status code number. */
export interface KmsPlugin {
  status(): Promise<{ version: string; healthz: string; keyId: string }>;
  encrypt(request: {
    plaintext: Buffer;
    uid: string;
  }): Promise<{ ciphertext: Buffer; keyId: string; annotations: Record<string, Buffer> }>;
  decrypt(request: {
    ciphertext: Buffer;
    uid: string;
    keyId: string;
    annotations: Record<string, Buffer>;
  }): Promise<{ plaintext: Buffer }>;
  /** False while the plugin's socket is gone. */
  reachable(): boolean;
  /** The socket path, for error messages. */
  readonly socket: string;
}

// gRPC code names as grpc-go prints them in `rpc error: code = <Name> desc = <message>`.
const GO_CODE_NAMES = [
  'OK',
  'Canceled',
  'Unknown',
  'InvalidArgument',
  'DeadlineExceeded',
  'NotFound',
  'AlreadyExists',
  'PermissionDenied',
  'ResourceExhausted',
  'FailedPrecondition',
  'Aborted',
  'OutOfRange',
  'Unimplemented',
  'Internal',
  'Unavailable',
  'DataLoss',
  'Unauthenticated',
];

/** RpcError is a failed KMS call as the apiserver's gRPC client reports it. */
export class RpcError extends Error {
  constructor(
    readonly code: string,
    readonly desc: string,
  ) {
    super(`rpc error: code = ${code} desc = ${desc}`);
    this.name = 'RpcError';
  }
}

/**
 * callPlugin is one KMS call under the provider's timeout, as grpc-go with WaitForReady makes it: a missing socket
 * does not fail fast, the call waits out the timeout; a slow or hung plugin is cut off at the timeout.
 */
export async function callPlugin<T>(
  clock: SimClock,
  plugin: KmsPlugin,
  timeoutMs: number,
  call: () => Promise<T>,
): Promise<T> {
  if (!plugin.reachable()) {
    await clock.sleep(timeoutMs);
    throw new RpcError(
      'DeadlineExceeded',
      `latest balancer error: connection error: desc = "transport: Error while dialing: dial unix ${plugin.socket}: connect: no such file or directory"`,
    );
  }
  const deadline = clock.timeout(timeoutMs);
  try {
    return await Promise.race([
      call().catch((error: { code?: number; message?: string }) => {
        throw new RpcError(GO_CODE_NAMES[error.code ?? 2] ?? 'Unknown', error.message ?? String(error));
      }),
      deadline.done.then(() => {
        throw new RpcError('DeadlineExceeded', 'context deadline exceeded');
      }),
    ]);
  } finally {
    deadline.cancel();
  }
}
