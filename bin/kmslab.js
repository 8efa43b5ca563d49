#!/usr/bin/env node
// Entry point: kmslab runs from its TypeScript sources through tsx (no build step).
import { register } from 'tsx/esm/api';

register();
await import('./cli.ts');
