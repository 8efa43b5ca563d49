import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Three projects: fast unit tests next to the code, integration tests in test/ that start real etcd, kube-apiserver
// and fake-kms processes, and the integration tests that mostly wait on labs of their own: kind and compose labs
// (a container engine), labs with a cloud behind the plugin (write states that take 3 min to expire), and restarts
// held a minute by a KMS plugin that is gone. CI machines have 2 cores, so integration files run one at a time
// within each project.
const WAITING_TESTS = [
  'test/docker-backends.int.test.ts',
  'test/no-pull-engine.int.test.ts',
  'test/cloud-*.int.test.ts',
  'test/two-providers.int.test.ts',
  'test/in-cluster.int.test.ts',
  'test/indexed-job.int.test.ts',
];

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
          exclude: WAITING_TESTS,
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 900_000,
        },
      },
      {
        // scripts/test.ts runs these in a vitest of their own beside the integration project (still one file at a
        // time): their labs wait far more than they compute.
        extends: true,
        test: {
          name: 'cloud-containers',
          include: WAITING_TESTS,
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 900_000,
        },
      },
    ],
  },
});
