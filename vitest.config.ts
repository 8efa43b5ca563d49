import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Two projects: fast unit tests next to the code, and integration tests in test/ that start real
// etcd, kube-apiserver and fake-kms processes. CI machines have 2 cores, so integration files run one at a time.
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
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 900_000,
        },
      },
    ],
  },
});
