import { expect, test } from 'vitest';
import { MemoryEtcd } from './memory-etcd.js';

test('revisions, history, paged ranges and compaction behave like etcd', () => {
  const etcd = new MemoryEtcd();
  const r1 = etcd.put('/registry/secrets/a/1', Buffer.from('one'));
  etcd.put('/registry/secrets/a/2', Buffer.from('two'));
  const r3 = etcd.put('/registry/secrets/a/1', Buffer.from('uno'));
  expect(etcd.get('/registry/secrets/a/1')).toEqual({
    key: '/registry/secrets/a/1',
    value: Buffer.from('uno'),
    modRevision: r3,
  });
  expect(etcd.get('/registry/secrets/a/1', r1)?.value.toString()).toBe('one');
  const page = etcd.range('/registry/secrets/', { limit: 1 });
  expect(page.more).toBe(true);
  expect(etcd.range('/registry/secrets/', { from: `${page.kvs[0]!.key}\u0000` }).kvs.map((kv) => kv.key)).toEqual([
    '/registry/secrets/a/2',
  ]);
  etcd.delete('/registry/secrets/a/2');
  expect(etcd.range('/registry/').kvs).toHaveLength(1);
  etcd.compact();
  expect(() => etcd.get('/registry/secrets/a/1', r1)).toThrow(/compacted/);
  expect(etcd.get('/registry/secrets/a/1')?.value.toString()).toBe('uno');
});
