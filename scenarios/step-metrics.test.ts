import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { Lab } from '../harness/lab.js';
import { metricsDelta, scrapeMetrics, type MetricsScrape } from './step-metrics.js';

const fixture = readFileSync(new URL('../verify/fixtures/metrics-v1.37.2-reloaded.txt', import.meta.url), 'utf8');
const labAnswering = (bodies: Record<string, string | Error>) =>
  ({
    apiservers: Object.entries(bodies).map(([name, body]) => ({
      name,
      running: true,
      api: {
        request: async () => {
          if (body instanceof Error) throw body;
          return { status: 200, body };
        },
      },
    })),
  }) as unknown as Lab;

describe('scrapeMetrics', () => {
  test('reads a real v1.37.2 /metrics body: transformations, key_id hashes, DEK cache, Status key_id', async () => {
    const scrape = await scrapeMetrics(labAnswering({ a: fixture }));
    const delta = metricsDelta({}, scrape).a!;
    expect(delta).toMatchObject({
      restarted: true,
      transformations: { 'to_storage k8s:enc:kms:v2:kmslab: OK': 2, 'from_storage k8s:enc:kms:v2:kmslab: OK': 2 },
      keyIdHashes: {
        'to_storage sha256:a5b331ead453dc328ab42564c81d5922bed8b1f482ad8a04a20edfba95c8d151': 2,
        'from_storage sha256:a5b331ead453dc328ab42564c81d5922bed8b1f482ad8a04a20edfba95c8d151': 2,
      },
      dekSourceCacheSize: { kmslab: { after: 1 } },
      statusKeyIdHash: { kmslab: 'sha256:a5b331ead453dc328ab42564c81d5922bed8b1f482ad8a04a20edfba95c8d151' },
    });
  });

  test('an apiserver that cannot answer is named with the reason, the others still counted', async () => {
    const scrape = await scrapeMetrics(labAnswering({ a: fixture, b: new Error('connection refused') }));
    expect(metricsDelta(scrape, scrape)).toMatchObject({
      a: { transformations: {} },
      b: { unavailable: expect.stringMatching(/connection refused/) },
    });
  });
});

describe('metricsDelta', () => {
  const at = (started: number, written: number, cache: number): MetricsScrape => ({
    a: {
      ok: true,
      metrics: {
        transformations: [{ resource: 'secrets', type: 'to_storage', prefix: 'p:', status: 'OK', count: written }],
        keyIdUses: [],
        statusKeyIds: [],
        dekSourceCacheSize: [{ provider: 'kmslab', size: cache }],
        invalidKeyIdsFromStatus: [],
        kmsCalls: [],
        reloads: [],
        apiserverIdHashes: [],
        storedObjects: {},
        startedSeconds: started,
      },
    },
  });

  test('counters as the step moved them, gauges before and after, nothing that did not move', () => {
    fc.assert(
      fc.property(fc.nat(1e6), fc.nat(1e6), fc.nat(9), fc.nat(9), (before, added, c1, c2) => {
        const d = metricsDelta(at(1, before, c1), at(1, before + added, c2)).a!;
        expect(d).toEqual({
          transformations: added ? { 'to_storage p: OK': added } : {},
          keyIdHashes: {},
          dekSourceCacheSize: { kmslab: { before: c1, after: c2 } },
          statusKeyIdHash: {},
        });
      }),
    );
  });

  test('a process that started anew during the step counts from its start, and says so', () => {
    expect(metricsDelta(at(1, 500, 3), at(2, 7, 1)).a).toMatchObject({
      restarted: true,
      transformations: { 'to_storage p: OK': 7 },
      dekSourceCacheSize: { kmslab: { after: 1 } },
    });
  });
});
