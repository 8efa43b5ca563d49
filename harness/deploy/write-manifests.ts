// Writes deploy/*.yaml from harness/deploy/in-cluster.ts: `npx tsx harness/deploy/write-manifests.ts`.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { packageRoot } from '../common/paths.js';
import { inClusterManifests } from './in-cluster.js';

for (const [file, text] of Object.entries(inClusterManifests())) {
  await writeFile(join(packageRoot, 'deploy', file), text);
  console.log(`wrote deploy/${file}`);
}
