import { expect, test } from 'vitest';
import { rootOf } from './paths.js';

test('a checkout under a path with spaces and non-ASCII names resolves to that path, not its URL encoding', () => {
  expect(rootOf('file:///home/a%20user/my%20k%C3%B6de/harness/common/paths.ts')).toBe('/home/a user/my köde');
});
