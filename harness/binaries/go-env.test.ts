import { expect, test } from 'vitest';
import { moduleProxy } from './go-env.js';

test('GOPROXY keeps its proxies and loses every direct fallback', () => {
  expect(moduleProxy('https://proxy.golang.org,direct')).toBe('https://proxy.golang.org');
  expect(moduleProxy('https://a.example|https://b.example|direct')).toBe('https://a.example,https://b.example');
  expect(moduleProxy('direct')).toBe('https://proxy.golang.org');
  expect(moduleProxy(undefined)).toBe('https://proxy.golang.org');
  expect(moduleProxy('https://corp.example/go')).toBe('https://corp.example/go');
  expect(moduleProxy('https://corp.example,off')).toBe('off');
});
