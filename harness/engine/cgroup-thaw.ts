import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** thawTree thaws every frozen cgroup in a cgroup directory tree. */
export async function thawTree(dir: string): Promise<number> {
  let thawed = 0;
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) thawed += await thawTree(path);
    else if (e.name === 'freezer.state' && (await readFile(path, 'utf8').catch(() => '')).trim() !== 'THAWED') {
      if (
        await writeFile(path, 'THAWED').then(
          () => true,
          () => false,
        )
      )
        thawed++;
    } else if (e.name === 'cgroup.freeze' && (await readFile(path, 'utf8').catch(() => '')).trim() === '1') {
      if (
        await writeFile(path, '0').then(
          () => true,
          () => false,
        )
      )
        thawed++;
    }
  }
  return thawed;
}
