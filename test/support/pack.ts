import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { packageRoot } from '../../harness/common/paths.js';

/** packKmslab packs this checkout as npm would publish it (prepack compiles dist/); returns the tarball's path. */
export async function packKmslab(): Promise<string> {
  const out = mkdtempSync(join(tmpdir(), 'kmslab-pack-'));
  const pack = await execa('npm', ['pack', '--pack-destination', out, '--silent'], { cwd: packageRoot });
  return join(out, pack.stdout.trim().split('\n').pop()!);
}
