import { execa, type Options } from 'execa';
import { packageRoot } from '../../harness/common/paths.js';

/** kmslab runs the real CLI as a user would, and never throws: tests assert on exit code and output. */
export function kmslab(args: string[], options: Options = {}) {
  return execa(process.execPath, [`${packageRoot}/bin/kmslab.js`, ...args], { reject: false, ...options });
}
