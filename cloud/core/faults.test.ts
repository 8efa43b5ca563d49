import { describe, expect, it } from 'vitest';
import { CloudFaults } from './faults.js';

describe('CloudFaults', () => {
  it('count and action: fires on matching requests only, then retires', () => {
    const f = new CloudFaults();
    f.add({ kind: 'error', action: 'Decrypt', count: 2, status: 503, code: 'X' });
    expect(f.onRequest('Encrypt').error).toBeUndefined();
    expect(f.onRequest('Decrypt').error).toEqual({ status: 503, code: 'X' });
    expect(f.onRequest('Decrypt').error).toBeDefined();
    expect(f.onRequest('Decrypt').error).toBeUndefined();
    expect(f.list()).toEqual([]);
  });

  it('probability with a seed replays the same draws', () => {
    const draws = () => {
      const f = new CloudFaults();
      f.add({ kind: 'throttle', probability: 0.3, seed: 'x' });
      return Array.from({ length: 200 }, () => (f.onRequest('Encrypt').throttle ? 1 : 0)).join('');
    };
    const a = draws();
    expect(draws()).toBe(a);
    const n = [...a].filter((c) => c === '1').length;
    expect(n).toBeGreaterThan(30);
    expect(n).toBeLessThan(90);
  });

  it('a rate-limited throttle lets ratePerSecond requests through each second', () => {
    const clock = { now: 0 };
    const f = new CloudFaults(() => clock.now);
    f.add({ kind: 'throttle', ratePerSecond: 3 });
    const second = () => Array.from({ length: 5 }, () => Boolean(f.onRequest('Decrypt').throttle));
    expect(second()).toEqual([false, false, false, true, true]);
    clock.now += 1000;
    expect(second()).toEqual([false, false, false, true, true]);
  });

  it('a throttle on several actions is one quota they share; other actions pass', () => {
    const clock = { now: 0 };
    const f = new CloudFaults(() => clock.now);
    f.add({ kind: 'throttle', action: 'Encrypt,Decrypt', ratePerSecond: 2 });
    expect(['Encrypt', 'Decrypt', 'AssumeRole', 'Decrypt'].map((a) => Boolean(f.onRequest(a).throttle))).toEqual([
      false,
      false,
      false,
      true,
    ]);
    clock.now += 1000;
    expect(Boolean(f.onRequest('Decrypt').throttle)).toBe(false);
  });

  it('connection faults fire per connection; a hang holds until cleared', async () => {
    const f = new CloudFaults();
    f.add({ kind: 'unreachable', count: 1 });
    expect(f.onConnection()).toBe('unreachable');
    expect(f.onConnection()).toBeUndefined();
    const hang = f.add({ kind: 'hang', action: 'Encrypt', count: 1 });
    expect(f.onRequest('Encrypt').hang).toBe(hang.id);
    expect(f.stillHanging(hang.id)).toBe(true);
    const released = f.released;
    expect(f.clear(hang.id)).toBe(1);
    await released;
    expect(f.stillHanging(hang.id)).toBe(false);
    expect(() => f.add({ kind: 'tls-failure', action: 'Encrypt' } as never)).toThrow();
  });
});
