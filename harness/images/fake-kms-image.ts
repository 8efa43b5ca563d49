import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { KmslabError } from '../common/errors.js';
import { cacheRoot, packageRoot } from '../common/paths.js';
import { docker, imageInputs, requireLocalImages } from './docker-images.js';
import { filesDigest, layeredImage, type ImageFile } from './image-recipes.js';

/**
 * What the kmslab CLI needs at run time (the fake KMS runs as `kmslab fake-kms serve`): the sources in a checkout,
 * the compiled dist/ in an installed package (which has no sources and no lock file).
 */
const FROM_SOURCE = existsSync(join(packageRoot, 'bin/cli.ts'));
// Read when an image is built, not when this module loads: kmslab's own image has no tsconfig.build.json.
const appFiles = (): string[] =>
  FROM_SOURCE
    ? ['package.json', 'package-lock.json', 'tsconfig.json', ...compiledSources()]
    : ['package.json', 'bin/kmslab.js', 'dist'];

// The source tree is what tsconfig.build.json compiles: one list, so a new directory is never left out of the image.
function compiledSources(): string[] {
  const config = JSON.parse(readFileSync(join(packageRoot, 'tsconfig.build.json'), 'utf8')) as { include: string[] };
  return config.include;
}

/**
 * nodeRuntimeImage: kmslab's Debian base plus this machine's own node binary (Node 20, the one running kmslab).
 * It is what the Dockerfile's NODE_IMAGE names when kmslab builds the fake-KMS image: no registry involved.
 */
export function nodeRuntimeImage(rootfs: string): Promise<{ tag: string; built: boolean }> {
  return layeredImage(
    `kmslab/node-runtime:${process.version}`,
    rootfs,
    [{ path: 'usr/local/bin/node', from: process.execPath, mode: 0o755 }],
    ['ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
  );
}

/**
 * fakeKmsImage builds the fake KMS image from the Dockerfile with the legacy builder, FROM a local node runtime
 * image, on a context staged here: kmslab's sources plus production node_modules installed from the host's npm
 * cache (`npm ci --offline`). Nothing inside the build reaches a registry.
 */
export async function fakeKmsImage(
  tag: string,
  nodeImage: string,
  say: (m: string) => void,
): Promise<{ tag: string; built: boolean }> {
  const app = appFiles();
  const sources: ImageFile[] = [];
  for (const entry of [...app, 'Dockerfile']) {
    for (const file of await walk(join(packageRoot, entry)))
      sources.push({ path: file.slice(packageRoot.length + 1), from: file });
  }
  const inputs = await filesDigest(sources, { nodeImage, nodeImageInputs: await imageInputs(nodeImage) });
  if ((await imageInputs(tag)) === inputs) return { tag, built: false };
  await requireLocalImages([nodeImage]);
  const context = join(cacheRoot(), 'images', `fake-kms-context-${process.pid}`);
  await rm(context, { recursive: true, force: true });
  await mkdir(context, { recursive: true });
  try {
    for (const entry of app) await cp(join(packageRoot, entry), join(context, entry), { recursive: true });
    say(
      `  installing production node_modules from the host npm cache (npm ${FROM_SOURCE ? 'ci' : 'install'} --offline)`,
    );
    const install = FROM_SOURCE ? 'ci' : 'install';
    const npm = await execa(
      'npm',
      [install, '--omit=dev', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'],
      {
        cwd: context,
        reject: false,
        all: true,
      },
    );
    if (npm.exitCode !== 0) {
      throw new KmslabError(
        'build-failed',
        `npm ${install} --offline for the fake-KMS image failed; install kmslab with npm first so the npm cache holds every package:\n${String(npm.all).split('\n').slice(-10).join('\n')}`,
      );
    }
    await execa(
      'docker',
      [
        'build',
        '--pull=false',
        '--build-arg',
        `NODE_IMAGE=${nodeImage}`,
        '--label',
        `io.kmslab.inputs=${inputs}`,
        '-f',
        join(packageRoot, 'Dockerfile'),
        '-t',
        tag,
        context,
      ],
      { env: { DOCKER_BUILDKIT: '0' }, all: true },
    ).catch((error: { all?: string }) => {
      throw new KmslabError(
        'build-failed',
        `docker build of ${tag} failed:\n${String(error.all ?? error)
          .split('\n')
          .slice(-15)
          .join('\n')}`,
      );
    });
  } finally {
    await rm(context, { recursive: true, force: true });
  }
  return { tag, built: true };
}

/** tagImage gives a local image a second name (no copy). */
export async function tagImage(source: string, tag: string): Promise<void> {
  await docker(['tag', source, tag]);
}

async function walk(path: string): Promise<string[]> {
  const st = await stat(path);
  if (!st.isDirectory()) return [path];
  const out: string[] = [];
  for (const entry of (await readdir(path)).sort()) {
    if (entry === 'node_modules') continue;
    out.push(...(await walk(join(path, entry))));
  }
  return out;
}
