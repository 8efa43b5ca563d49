// Regenerates the pinned wrapper modules (go.mod with `tool` lines + go.sum) of the Go tools kmslab builds for its
// container images and engine (kube-node, crictl, coredns, docker-compose) and of our own Go
// programs built the same way (alibaba-kms-plugin).
// Usage: npx tsx scripts/pin-go-tools.ts [name ...]
import { goTools, pinGoTool } from '../harness/binaries/go-tools.js';

const all = Object.values(goTools);
const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !all.some((t) => t.name === w));
if (unknown.length) throw new Error(`unknown tool ${unknown.join(', ')}; one of ${all.map((t) => t.name).join(', ')}`);
for (const t of all.filter((t) => wanted.length === 0 || wanted.includes(t.name))) {
  const dir = await pinGoTool(t, (e) => console.error(`  ${e.message}`));
  console.log(`pinned ${t.name} ${t.version} in ${dir}`);
}
