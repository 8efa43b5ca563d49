import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Four projects: fast unit tests next to the code, integration tests in test/ that start real etcd, kube-apiserver
// and fake-kms processes, and two projects of integration tests that mostly wait on labs of their own: labs with a
// cloud behind the plugin (write states that take 3 min to expire), restarts held a minute by a KMS plugin that is
// gone, migrations waiting out a migrator's backoff or a config's hot reload; and kind and compose labs on a
// container engine, which need kmslab's images. CI machines have 2 cores, so integration files run one at a time
// within each project (scripts/test.ts runs the projects side by side).
const WAITING_TESTS = [
  'test/cloud-*.int.test.ts',
  'test/two-providers.int.test.ts',
  'test/upstream-ways.int.test.ts',
  'test/encrypted-resources.int.test.ts',
];
const CONTAINER_TESTS = [
  'test/docker-backends.int.test.ts',
  'test/no-pull-engine.int.test.ts',
  'test/in-cluster.int.test.ts',
  'test/indexed-job.int.test.ts',
];
const waitingProject = (name: string, include: string[]) => ({
  extends: true as const,
  test: { name, include, fileParallelism: false, testTimeout: 300_000, hookTimeout: 900_000 },
});

export default defineConfig({
  // The examples import kmslab as a user would; in the checkout that is the source.
  resolve: { alias: { kmslab: fileURLToPath(new URL('./index.ts', import.meta.url)) } },
  test: {
    reporters: process.env.CI ? ['default', 'junit'] : ['default'],
    outputFile: { junit: 'reports/junit.xml' },
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          // Some unit tests run the CLI as a child (tsx start-up ~1–2 s, more on 2 busy cores): 5 s timed them out.
          testTimeout: 30_000,
          include: [
            '{sim,fake-kms,proxy,conformance,chaos,cloud,verify,harness,scenarios,bin,proto}/**/*.test.ts',
            'examples/vitest/*.test.ts',
          ],
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.int.test.ts'],
          exclude: [...WAITING_TESTS, ...CONTAINER_TESTS],
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 900_000,
        },
      },
      waitingProject('waiting', WAITING_TESTS),
      waitingProject('containers', CONTAINER_TESTS),
    ],
  },
});
