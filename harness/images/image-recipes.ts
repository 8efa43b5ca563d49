import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { docker, imageInputs, importImage, INPUTS_LABEL, streamInto } from './docker-images.js';

/** A file to place in an image: its content comes from a host file, a string, or it is a symlink. */
export type ImageFile =
  | { path: string; from: string; mode?: number }
  | { path: string; text: string; mode?: number }
  | { path: string; symlinkTo: string };

const PATH_ENV = 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** filesDigest keys an image by the content of its files and its settings. */
export async function filesDigest(files: ImageFile[], extra: unknown): Promise<string> {
  const hash = createHash('sha256').update(JSON.stringify(extra));
  for (const f of files) {
    hash.update(JSON.stringify({ ...f, from: undefined }));
    if ('from' in f) {
      for await (const chunk of createReadStream(f.from)) hash.update(chunk as Buffer);
    }
  }
  return hash.digest('hex').slice(0, 12);
}

/** stageFiles writes files into a fresh host directory laid out as the image's root. */
export async function stageFiles(files: ImageFile[]): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'kmslab-image-'));
  for (const f of files) {
    const target = join(root, f.path);
    await mkdir(dirname(target), { recursive: true });
    if ('symlinkTo' in f) await symlink(f.symlinkTo, target);
    else {
      if ('from' in f) await copyFile(f.from, target);
      else await writeFile(target, f.text);
      await chmod(target, f.mode ?? 0o644);
    }
  }
  return root;
}

/** tarOf is a tar command for a staged root, owned by root. */
export const tarOf = (root: string): [string, string[]] => ['tar', ['-C', root, '--owner=0', '--group=0', '-c', '.']];

/**
 * scratchImage builds an image holding only the given files (static binaries), like upstream's distroless
 * control-plane images: a `docker import`, no builder and no registry. Cached: an image whose inputs label matches
 * is kept.
 */
export async function scratchImage(
  tag: string,
  files: ImageFile[],
  changes: string[] = [],
): Promise<{ tag: string; built: boolean }> {
  const allFiles: ImageFile[] = [...files, { path: 'tmp/.keep', text: '' }];
  const inputs = await filesDigest(allFiles, { changes, kind: 'scratch' });
  if ((await imageInputs(tag)) === inputs) return { tag, built: false };
  const root = await stageFiles(allFiles);
  try {
    await chmod(join(root, 'tmp'), 0o1777);
    await importImage(tarOf(root), tag, inputs, [PATH_ENV, ...changes]);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  return { tag, built: true };
}

/**
 * layeredImage builds an image from a local base image plus files: `docker create` (never pulling), a tar of the
 * files copied in, `docker commit`. No builder, no registry.
 */
export async function layeredImage(
  tag: string,
  base: string,
  files: ImageFile[],
  changes: string[] = [],
): Promise<{ tag: string; built: boolean }> {
  const inputs = await filesDigest(files, { base, changes, kind: 'layered' });
  if ((await imageInputs(tag)) === inputs) return { tag, built: false };
  const root = await stageFiles(files);
  const name = `kmslab-build-${randomBytes(4).toString('hex')}`;
  try {
    await docker(['create', '--pull=never', '--name', name, base, '/bin/true']);
    await streamInto(tarOf(root), ['docker', ['cp', '-', `${name}:/`]], `copying files into ${name}`);
    await commit(name, tag, inputs, changes);
  } finally {
    await docker(['rm', '-f', name]).catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  }
  return { tag, built: true };
}

/** commit saves a container as an image with config changes and kmslab's inputs label. */
export async function commit(container: string, tag: string, inputs: string, changes: string[]): Promise<void> {
  const args = ['commit', '--change', `LABEL ${INPUTS_LABEL}=${inputs}`];
  for (const c of changes) args.push('--change', c);
  await docker([...args, container, tag]);
}
