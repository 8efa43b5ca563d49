import { KmslabError } from './common/errors.js';
import { LocalLab, type LocalLabOptions } from './backends/local/local-lab.js';
import type { Lab } from './lab.js';

export type Backend = Lab['backend'];

export type StartLabOptions = { backend?: 'local' } & LocalLabOptions;

/** startLab starts a lab on a backend (default `local`: real etcd and kube-apiserver processes). */
export async function startLab(options: StartLabOptions = {}): Promise<Lab> {
  const backend = options.backend ?? 'local';
  switch (backend) {
    case 'local':
      return LocalLab.start(options);
    default:
      throw new KmslabError('usage', `backend "${backend as string}" is not available; use local`);
  }
}
