import { expect, test } from 'vitest';
import { failingChecks } from './health-checks.js';

test('the failed checks of a verbose health answer, by name', () => {
  const body = [
    '[+]ping ok',
    '[+]etcd ok',
    '[-]kms-providers failed: reason withheld',
    '[+]poststarthook/start-apiserver-admission-initializer ok',
    '[-]poststarthook/storage-readiness failed: reason withheld',
    '[-]informer-sync failed: 1 informers not started yet: [*v1.Secret]',
    'readyz check failed',
  ].join('\n');
  expect(failingChecks(body)).toEqual(['kms-providers', 'poststarthook/storage-readiness', 'informer-sync']);
  expect(failingChecks('[+]ping ok\nreadyz check passed\n')).toEqual([]);
  expect(failingChecks('')).toEqual([]);
});
