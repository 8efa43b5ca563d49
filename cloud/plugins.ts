import { join } from 'node:path';
import { alibabaKmsPlugin, buildGoTool } from '../harness/binaries/go-tools.js';
import type { ProgressListener } from '../harness/binaries/build.js';

/**
 * alibabaPlugin finds (building once, from pinned Go modules) kmslab's Alibaba KMS v2 plugin and the SDK probe that
 * tests use. Needs Go the first time, like every component kmslab builds.
 */
export async function alibabaPlugin(onProgress?: ProgressListener): Promise<{ plugin: string; probe: string }> {
  const { dir } = await buildGoTool(alibabaKmsPlugin, onProgress);
  return { plugin: join(dir, 'alibaba-kms-plugin'), probe: join(dir, 'alibaba-sdk-probe') };
}
