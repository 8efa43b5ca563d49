import { describe, expect, test } from 'vitest';
import { defineScenario, type ScenarioDefinition } from './define.js';

const run = async () => undefined;
const valid: ScenarioDefinition = { name: 'my-check', summary: 'does a thing', run };

describe('defineScenario', () => {
  test('fills in what the author left out', () => {
    const s = defineScenario(valid);
    expect(s).toMatchObject({ name: 'my-check', summary: 'does a thing', proves: 'does a thing', tags: [] });
    expect(s.needs).toEqual({ encryption: 'kms' });
    expect(s.run).toBe(run);
  });

  test('keeps what the author gave', () => {
    const s = defineScenario({ ...valid, proves: 'p', tags: ['a', 'b-2'], needs: { apiservers: 2, kms: ['rotate'] } });
    expect(s).toMatchObject({
      proves: 'p',
      tags: ['a', 'b-2'],
      needs: { encryption: 'kms', apiservers: 2, kms: ['rotate'] },
    });
  });

  // Names become the namespace kmslab-<name> and part of lab names: DNS labels only, short enough for both.
  test.each(['a', 'a1', 'x-y-z', 'z'.repeat(40)])('accepts the name %s', (name) => {
    expect(defineScenario({ ...valid, name }).name).toBe(name);
  });
  test.each(['', 'A', 'has space', '-lead', 'trail-', 'dot.ted', 'slash/ed', 'z'.repeat(41), 'ünï'])(
    'refuses the name "%s", saying what a name may be',
    (name) => {
      expect(() => defineScenario({ ...valid, name })).toThrow(/name: use 1–40 lowercase letters/);
    },
  );

  test.each([
    [{ summary: ' ' }, /summary: say in a line/],
    [{ run: 'not a function' }, /run: run must be an async function/],
    [{ tags: ['Core'] }, /tags\.0: tags are lowercase words/],
    [{ needs: { apiservers: 6 } }, /needs\.apiservers/],
    [{ needs: { kms: ['teleport'] } }, /needs\.kms\.0/],
    [{ needs: { encryption: 'aescbc' } }, /needs\.encryption/],
    [{ steps: [] }, /Unrecognized key: "steps"/],
  ] as Array<[Record<string, unknown>, RegExp]>)('refuses %j', (patch, message) => {
    expect(() => defineScenario({ ...valid, ...patch } as ScenarioDefinition)).toThrow(message);
  });

  test('names every problem at once, and the scenario by its name', () => {
    expect(() => defineScenario({ name: 'ok-name', summary: '', run: 3 } as unknown as ScenarioDefinition)).toThrow(
      /scenario "ok-name" is not valid: summary: .*; run: /,
    );
  });

  test.each([undefined, null, 42, 'text', []])('refuses %j as a definition', (input) => {
    expect(() => defineScenario(input as unknown as ScenarioDefinition)).toThrow(/is not valid/);
  });
});
