import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { indexedJobManifest, JOB_RESOURCES, parseShardCount, type IndexedJobOptions } from './indexed-job.js';

interface Job {
  metadata: { name: string; namespace?: string };
  spec: {
    completionMode: string;
    completions: number;
    parallelism: number;
    backoffLimitPerIndex: number;
    template: {
      spec: {
        restartPolicy: string;
        containers: Array<{
          image: string;
          imagePullPolicy: string;
          args: string[];
          resources: { requests: Record<string, string>; limits: Record<string, string> };
          securityContext: Record<string, unknown>;
        }>;
      };
    };
  };
}
type Options = Omit<IndexedJobOptions, 'image'> & { image?: string };
const IMAGE = 'kmslab/kmslab:local';
const manifest = (o: Options) => indexedJobManifest({ image: IMAGE, ...o });
const job = (o: Options) => parse(manifest(o)) as Job;
const refusal = (f: () => unknown) => {
  try {
    f();
  } catch (error) {
    return (error as { exitCode?: number }).exitCode === 2 ? (error as Error).message : `not usage: ${error}`;
  }
  return 'accepted';
};

describe('kmslab job manifest: an Indexed Job whose pods cannot disagree on n or the command', () => {
  test('any n and command: completions = parallelism = n, and every pod runs `job shard --shards n -- <command>`', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 256 }),
        fc.constantFrom(
          ['run', '--tag', 'core'],
          ['conformance', '--plugin-cmd', 'p {socket}'],
          ['chaos', '--seeds', '1..9'],
        ),
        (n, args) => {
          const j = job({ shards: n, args: [...args] });
          expect(j.spec.completionMode).toBe('Indexed');
          expect([j.spec.completions, j.spec.parallelism]).toEqual([n, n]);
          expect(j.spec.template.spec.containers[0]!.args).toEqual([
            'job',
            'shard',
            '--shards',
            String(n),
            '--',
            ...args,
          ]);
          expect(j.metadata.name).toBe(`kmslab-${args[0]}`);
        },
      ),
    );
  });

  test('defaults: kmslab’s image never pulled, a failed shard not rerun, requests that fit a lab, no privilege', () => {
    const j = job({ shards: 3, args: ['run', '--tag', 'core'] });
    const c = j.spec.template.spec.containers[0]!;
    expect([c.image, c.imagePullPolicy]).toEqual([IMAGE, 'Never']);
    expect([j.spec.backoffLimitPerIndex, j.spec.template.spec.restartPolicy]).toEqual([0, 'Never']);
    expect(c.resources).toEqual({
      requests: { cpu: JOB_RESOURCES.cpu, memory: JOB_RESOURCES.memory },
      limits: { memory: JOB_RESOURCES.memory },
    });
    expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
  });

  test('name, namespace, image, pull policy and resources as given', () => {
    const j = job({
      shards: 2,
      args: ['run', 'rotate'],
      name: 'kms-nightly',
      namespace: 'kms-ci',
      image: 'registry.example/kmslab:0.1.0',
      pullPolicy: 'IfNotPresent',
      cpu: '500m',
      memory: '1536Mi',
    });
    const c = j.spec.template.spec.containers[0]!;
    expect([j.metadata.name, j.metadata.namespace, c.image, c.imagePullPolicy]).toEqual([
      'kms-nightly',
      'kms-ci',
      'registry.example/kmslab:0.1.0',
      'IfNotPresent',
    ]);
    expect(c.resources).toEqual({ requests: { cpu: '500m', memory: '1536Mi' }, limits: { memory: '1536Mi' } });
  });

  test.each<[string, Options, RegExp]>([
    ['no command', { shards: 3, args: [] }, /each shard runs kmslab run, conformance, chaos; got no command/],
    ['another command', { shards: 3, args: ['up'] }, /got "up": put it after --, e.g. -- run --tag core/],
    ['--shard', { shards: 3, args: ['run', '--shard', '1/3'] }, /--shard is set by the job for each pod/],
    ['--result=…', { shards: 3, args: ['run', '--result=x.json'] }, /--result is set by the job/],
    ['--list-cells', { shards: 3, args: ['chaos', '--list-cells'] }, /--list-cells is set by the job/],
    ['--keep', { shards: 3, args: ['run', '--keep'] }, /--keep has no use in a pod/],
    ['kind in a pod', { shards: 3, args: ['run', '--backend', 'kind'] }, /--backend kind needs a container engine/],
    ['compose in a pod', { shards: 3, args: ['run', '--backend=compose'] }, /--backend compose needs/],
    ['0 shards', { shards: 0, args: ['run'] }, /--shards "0": give a whole number from 1 to 256/],
    ['257 shards', { shards: 257, args: ['run'] }, /--shards "257"/],
    [
      'a name that is no DNS label',
      { shards: 3, args: ['run'], name: 'Kmslab_Run' },
      /--name "Kmslab_Run" is not a DNS label/,
    ],
    // Pod hostnames are <name>-<index>: with 100 shards, "-99" leaves 60 characters.
    ['a name too long for its pods', { shards: 100, args: ['run'], name: 'a'.repeat(61) }, /at most 60 characters/],
    ['a bad namespace', { shards: 3, args: ['run'], namespace: 'a.b' }, /--namespace "a.b" is not a DNS label/],
    ['a bad cpu', { shards: 3, args: ['run'], cpu: 'one' }, /--cpu "one" is not a Kubernetes quantity above 0/],
    ['no memory', { shards: 3, args: ['run'], memory: '0' }, /--memory "0" is not a Kubernetes quantity above 0/],
  ])('refused with a usage error: %s', (_, o, message) => {
    expect(refusal(() => manifest(o))).toMatch(message);
  });

  test('--shards is read as a whole number only', () => {
    expect(parseShardCount('16')).toBe(16);
    for (const bad of ['3x', '1.5', '', '-1', '0x10'])
      expect(refusal(() => parseShardCount(bad))).toMatch(/--shards ".*": give a whole number from 1 to 256/);
  });
});
