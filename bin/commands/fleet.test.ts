import { describe, expect, test } from 'vitest';
import { kmslab } from '../../test/support/cli.js';

// `kmslab fleet` through the CLI: runs outside the model's limits are usage errors naming the limit; a long run
// shows its progress and stops on Ctrl-C.
// One apiserver, one Secret, an hour: the smallest run, for what the flags do.
const ONE_HOUR = ['fleet', '--apiservers', '1', '--objects', '1', '--duration', '1h'];

describe('kmslab fleet', () => {
  test('an input outside the limits exits 2 naming the limit, before modelling anything', async () => {
    const r = await kmslab(['fleet', '--apiservers', '100000', '--objects', '1e308', '--duration', '3650d']);
    expect(r.exitCode).toBe(2);
    const err = String(r.stderr);
    expect(err).toMatch(/--apiservers 100000: must be a whole number from 1 to 100/);
    expect(err).toMatch(/--objects 1e\+308: must be a whole number from 0 to 1,000,000,000/);
    expect(err).toMatch(/--duration 3650d: must be above 0 and at most 366d/);
    expect(err).not.toMatch(/writes-per-second/);
    const outage = await kmslab([...ONE_HOUR, '--outage', '2h+1m']);
    expect(outage.exitCode).toBe(2);
    expect(String(outage.stderr)).toMatch(/--outage 2h\+1m: starts outside the period \(0 to 1h\)/);
  });

  test('--plugin: the cloud calls and the cost include what each Status costs the plugin; an unknown style exits 2', async () => {
    const run = async (plugin: string) => {
      const r = await kmslab([
        'fleet',
        '--apiservers',
        '3',
        '--objects',
        '1000',
        '--duration',
        '2h',
        '--kms',
        'v2',
        '--plugin',
        plugin,
        '--json',
      ]);
      expect(r.exitCode, String(r.stderr)).toBe(0);
      return (
        JSON.parse(String(r.stdout)) as {
          results: Array<{
            calls: { Status: number; total: number };
            cloud: { calls: { total: number }; forStatus: number };
            cost: { total: number };
          }>;
        }
      ).results[0]!;
    };
    const [ack, none, custom] = await Promise.all([run('ack'), run('status-cache'), run('3+0')]);
    expect(ack.calls).toEqual(none.calls);
    expect(ack.cloud.forStatus).toBe(2 * ack.calls.Status);
    expect(custom.cloud.forStatus).toBe(3 * ack.calls.Status);
    expect(none.cloud.forStatus).toBe(0);
    expect(ack.cloud.calls.total - none.cloud.calls.total).toBe(2 * ack.calls.Status);
    expect(ack.cost.total).toBeGreaterThan(none.cost.total);
    const text = await kmslab([...ONE_HOUR, '--plugin', 'aws-encryption-provider']);
    expect(String(text.stdout)).toMatch(
      /plugin aws-encryption-provider: 1 Encrypt \+ 1 Decrypt at the cloud per Status, at most once per 30s/,
    );
    expect(String(text.stdout)).toMatch(/made to answer Status/);
    const bad = await kmslab([...ONE_HOUR, '--plugin', 'gcp']);
    expect(bad.exitCode).toBe(2);
    expect(String(bad.stderr)).toMatch(
      /--plugin "gcp" is neither a style \(aws-kmslab, ack, aws-encryption-provider, status-cache\)/,
    );
  }, 60_000);

  test('a long run shows progress and stops within 2 s of Ctrl-C (exit 130)', async () => {
    const run = kmslab(['fleet', '--apiservers', '100', '--objects', '1000000', '--duration', '36d']);
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      run.stderr!.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (/% of 36d modelled/.test(stderr)) resolve();
      });
      void run.then(() => reject(new Error(`ended before any progress: ${stderr}`)));
    });
    const signalled = performance.now();
    run.kill('SIGINT');
    const r = await run;
    expect(performance.now() - signalled).toBeLessThan(2_000);
    expect(r.exitCode).toBe(130);
    expect(stderr + String(r.stderr)).toMatch(/stopped by SIGINT before the model finished/);
    expect(String(r.stdout)).toBe('');
  });
});
