import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, test } from 'vitest';
import { findBinary } from '../harness/index.js';
import { packageRoot } from '../harness/common/paths.js';

// docker-compose.yml held to the real Compose loader without an engine: compose-go, which Docker Compose v2 uses,
// built from the Go module proxy like the other binaries. (test/docker-backends.int.test.ts runs it for real.)
interface Project {
  services: Record<
    string,
    {
      image?: string;
      pull_policy?: string;
      build?: { context: string };
      command?: string[];
      entrypoint?: string[];
      ports?: Array<{ target: number; host_ip?: string; published?: string }>;
      volumes?: Array<{ type: string; source: string; target: string; read_only?: boolean }>;
    }
  >;
}

let check: string;
const composeDir = mkdtempSync(join(tmpdir(), 'kmslab-compose-'));
const load = async (file: string) => {
  const r = await execa(check, [file], { reject: false, env: { KMSLAB_COMPOSE_DIR: composeDir } });
  return {
    exitCode: r.exitCode,
    stderr: String(r.stderr),
    project: r.exitCode === 0 ? (JSON.parse(String(r.stdout)) as Project) : undefined,
  };
};

beforeAll(async () => {
  check = (await findBinary('compose-check')).path;
});

describe('docker-compose.yml, as compose-go loads it', () => {
  test('is valid and wires etcd, the fake KMS and kube-apiserver as the compose backend expects', async () => {
    const { exitCode, stderr, project } = await load(join(packageRoot, 'docker-compose.yml'));
    expect(exitCode, stderr).toBe(0);
    const s = project!.services;
    expect(Object.keys(s).sort()).toEqual(['etcd', 'fake-kms', 'kube-apiserver']);
    // Images kmslab builds on the machine (kmslab build --images), never pulled: a missing one fails compose up.
    expect(Object.fromEntries(Object.entries(s).map(([k, v]) => [k, [v.image, v.pull_policy, v.build]]))).toEqual({
      etcd: ['kmslab/etcd:v3.6.16', 'never', undefined],
      'fake-kms': ['kmslab/fake-kms:local', 'never', undefined],
      'kube-apiserver': ['registry.k8s.io/kube-apiserver:v1.37.2', 'never', undefined],
    });
    expect(s['kube-apiserver']!.command).toEqual(
      expect.arrayContaining([
        '--etcd-servers=http://etcd:2379',
        '--encryption-provider-config=/etc/kmslab/encryption/encryption-config.yaml',
        '--encryption-provider-config-automatic-reload=true',
        '--token-auth-file=/etc/kmslab/tokens.csv',
      ]),
    );
    // The plugin socket directory is the same host directory in the plugin and the apiserver.
    const kmsMount = (service: string) => s[service]!.volumes!.find((v) => v.target === '/run/kms');
    expect(kmsMount('fake-kms')).toMatchObject({ type: 'bind', source: join(composeDir, 'kms') });
    expect(kmsMount('kube-apiserver')).toMatchObject({ type: 'bind', source: join(composeDir, 'kms') });
    expect(s['kube-apiserver']!.volumes!.find((v) => v.target === '/etc/kmslab')).toMatchObject({ read_only: true });
    // Ports only on loopback.
    expect(s['kube-apiserver']!.ports).toEqual([expect.objectContaining({ target: 6443, host_ip: '127.0.0.1' })]);
    expect(s.etcd!.ports).toEqual([expect.objectContaining({ target: 2379, host_ip: '127.0.0.1' })]);
    expect(readFileSync(join(packageRoot, 'Dockerfile'), 'utf8')).toContain('ENTRYPOINT ["node", "bin/kmslab.js"]');
  });

  test('the loader rejects a broken file with its own error (so the check above could fail)', async () => {
    const broken = join(composeDir, 'broken.yml');
    writeFileSync(
      broken,
      readFileSync(join(packageRoot, 'docker-compose.yml'), 'utf8').replace(
        '    image: ${KMSLAB_ETCD',
        '    imagee: ${KMSLAB_ETCD',
      ),
    );
    const { exitCode, stderr } = await load(broken);
    expect(exitCode).toBe(1);
    expect(stderr).toMatch(/imagee/);
  });
});
