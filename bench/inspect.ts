// Benchmark: the paged raw-etcd inspector against `etcdctl get --prefix` (Debian's etcd-client) on the same data.
// Starts a private etcd (kmslab's build), loads N values shaped like real ones (KMS v2 envelopes and plaintext
// protobuf), then times both readers. Usage: npx tsx bench/inspect.ts [objects=100000]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { findBinary } from '../harness/binaries/index.js';
import { EtcdMember } from '../harness/backends/local/etcd-member.js';
import { inspectEtcd, openEtcd, scanPrefix } from '../harness/inspect/index.js';
import { EncryptedDEKSourceType, encodeKmsV2Value, seededRandom } from '../sim/index.js';

const objects = Number(process.argv[2] ?? 100_000);
const dir = mkdtempSync(join(tmpdir(), 'kmslab-inspect-bench-'));
execFileSync('mkdir', ['-p', join(dir, 'logs')]);
const etcd = await EtcdMember.create((await findBinary('etcd')).path, dir);
await etcd.start();
const client = openEtcd(etcd.url);
try {
  const random = seededRandom('bench');
  const value = (i: number) =>
    i % 5 === 0
      ? Buffer.concat([Buffer.from('k8s\u0000'), random.bytes(300)])
      : encodeKmsV2Value('kmslab', {
          encryptedData: random.bytes(380),
          keyID: `kmslab-v${1 + (i % 3)}-bench`,
          encryptedDEKSource: random.bytes(61),
          annotations: { 'key-version.kmslab.test': Buffer.from('1') },
          encryptedDEKSourceType: EncryptedDEKSourceType.HKDF_SHA256_XNONCE_AES_GCM_SEED,
        });
  const loadStart = performance.now();
  for (let i = 0; i < objects; i += 1000) {
    await Promise.all(
      Array.from({ length: Math.min(1000, objects - i) }, (_, j) =>
        client.put(`/registry/secrets/ns-${(i + j) % 50}/secret-${i + j}`).value(value(i + j)),
      ),
    );
  }
  console.log(`loaded ${objects} values in ${((performance.now() - loadStart) / 1000).toFixed(1)} s`);

  const rounds = 3;
  const time = async (fn: () => Promise<unknown>) => {
    const runs = [];
    for (let r = 0; r < rounds; r++) {
      const t = performance.now();
      await fn();
      runs.push((performance.now() - t) / 1000);
    }
    return runs.sort((a, b) => a - b)[Math.floor(rounds / 2)]!;
  };
  const etcdctl = await time(() =>
    execa('etcdctl', ['--endpoints', etcd.url, 'get', '--prefix', '/registry/'], {
      env: { ETCDCTL_API: '3' },
      stdout: 'ignore',
    }),
  );
  let total = 0;
  const ours = await time(async () => {
    const report = await inspectEtcd({ etcd: client, prefix: '/registry/' });
    total = report.summary.total;
  });
  const scanOnly = await time(async () => {
    for await (const page of scanPrefix(client, '/registry/')) void page;
  });
  const mem = process.memoryUsage().rss / 2 ** 20;
  console.log(`(of which reading pages through the etcd3 client alone: ${scanOnly.toFixed(2)} s)`);
  console.log(`median of ${rounds} runs, ${objects} objects, node ${process.version}`);
  console.log(
    `etcdctl get --prefix (one range, raw bytes to /dev/null): ${etcdctl.toFixed(2)} s = ${(objects / etcdctl).toFixed(0)} objects/s`,
  );
  console.log(
    `kmslab inspect (paged, classify + decode every value):  ${ours.toFixed(2)} s = ${(total / ours).toFixed(0)} objects/s (${(etcdctl / ours).toFixed(2)}× etcdctl's rate), rss ${mem.toFixed(0)} MiB`,
  );
} finally {
  client.close();
  await etcd.stop();
  rmSync(dir, { recursive: true, force: true });
}
