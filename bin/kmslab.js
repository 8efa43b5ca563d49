#!/usr/bin/env node
// Entry point. In a checkout, kmslab runs from its TypeScript sources through tsx (no build step); an installed
// package has no sources and runs what `npm run build` compiled into dist/.
import { existsSync } from 'node:fs';

if (existsSync(new URL('./cli.ts', import.meta.url))) {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./cli.ts');
} else {
  await import('../dist/bin/cli.js');
}
