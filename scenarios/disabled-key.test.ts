import { describe, expect, test } from 'vitest';
import type { AuditRecord } from '../fake-kms/index.js';
import type { Lab } from '../harness/lab.js';
import { DisabledKey, styleOf } from './disabled-key.js';

const status = (code: string, keyId: string, healthz?: string): AuditRecord => ({
  seq: 0,
  time: '',
  method: 'Status',
  uid: '',
  keyId,
  code,
  latencyMs: 0,
  requestBytes: 0,
  responseBytes: 0,
  faults: [],
  ...(healthz === undefined ? {} : { healthz }),
});

describe('styleOf: what Status did once the key was disabled', () => {
  test('any failed Status is fail-rpc, even after answers', () => {
    expect(styleOf([status('OK', 'k1', 'err'), status('FAILED_PRECONDITION', '')], 'k1').style).toBe('fail-rpc');
  });
  test('healthz not ok with the same key_id is not-ok-keep-key-id', () => {
    expect(styleOf([status('OK', 'k1'), status('OK', 'k1', 'key disabled')], 'k1').style).toBe('not-ok-keep-key-id');
  });
  test('another key_id, a plain ok, or no call at all are told apart', () => {
    expect(styleOf([status('OK', 'k2', 'err')], 'k1').style).toBe('other-key-id');
    expect(styleOf([status('OK', 'k1')], 'k1').style).toBe('ok');
    expect(styleOf([], 'k1').style).toBe('no-status');
  });
});

describe('DisabledKey.whileDisabled: the key is enabled again on every way out', () => {
  const labWith = (calls: string[], enableFails = false) =>
    ({
      kms: {
        disable: async (id: string) => void calls.push(`disable ${id}`),
        enable: async (id: string) => {
          calls.push(`enable ${id}`);
          if (enableFails) throw new Error('hook exited 1');
        },
      },
    }) as unknown as Lab;

  test('steps that fail after disabling: enabled, and the steps’ own error is thrown', async () => {
    const calls: string[] = [];
    const key = new DisabledKey(labWith(calls), 'k1');
    const run = key.whileDisabled(async () => {
      await key.disable();
      throw new Error('step failed');
    });
    await expect(run).rejects.toThrow(/^step failed$/);
    expect(calls).toEqual(['disable k1', 'enable k1']);
  });

  test('steps that enabled the key themselves: not enabled twice', async () => {
    const calls: string[] = [];
    const key = new DisabledKey(labWith(calls), 'k1');
    expect(
      await key.whileDisabled(async () => {
        await key.disable();
        await key.enable();
        return 7;
      }),
    ).toBe(7);
    expect(calls).toEqual(['disable k1', 'enable k1']);
  });

  test('steps that never disabled: nothing enabled', async () => {
    const calls: string[] = [];
    const key = new DisabledKey(labWith(calls), 'k1');
    await expect(key.whileDisabled(async () => Promise.reject(new Error('before')))).rejects.toThrow('before');
    expect(calls).toEqual([]);
  });

  test('an enable that fails is said after the steps’ failure, never hidden', async () => {
    const key = new DisabledKey(labWith([], true), 'k1');
    const run = key.whileDisabled(async () => {
      await key.disable();
      throw new Error('step failed');
    });
    await expect(run).rejects.toThrow(/^step failed; then enabling key_id k1 again failed .*hook exited 1/);
  });
});
