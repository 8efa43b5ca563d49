// Regenerates the pinned wrapper modules (go.mod + go.sum) that kmslab builds kube-apiserver and etcd from.
// Usage: npx tsx scripts/pin-binaries.ts [kube-apiserver@v1.37.2] [etcd@v3.6.16]
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { components } from '../harness/binaries/index.js';
import { generateModule } from '../harness/binaries/build.js';
import { cacheRoot, packageRoot } from '../harness/common/paths.js';

const wanted = process.argv.slice(2);
const targets = wanted.length
  ? wanted.map((w) => w.split('@') as [keyof typeof components, string])
  : Object.values(components).map((c) => [c.name, c.defaultVersion] as const);

for (const [name, version] of targets) {
  const c = components[name];
  if (!c) throw new Error(`unknown component ${name}; one of ${Object.keys(components).join(', ')}`);
  await generateModule(c, version, (e) => console.error(`  ${e.message}`));
  const pins = join(packageRoot, 'harness/binaries/go', name, 'pins', version);
  await mkdir(pins, { recursive: true });
  for (const f of ['go.mod', 'go.sum']) await copyFile(join(cacheRoot(), 'modules', name, version, f), join(pins, f));
  console.log(`pinned ${name} ${version} in ${pins}`);
}
