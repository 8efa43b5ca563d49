import { execa } from 'execa';
import { KmslabError } from '../common/errors.js';
import { runCommand } from '../process/run-command.js';

/** The label every image kmslab builds carries: the digest of the inputs it was built from (its cache key). */
export const INPUTS_LABEL = 'io.kmslab.inputs';

/** imageInputs returns the inputs digest of a local image, or undefined when the image is not on this engine. */
export async function imageInputs(tag: string): Promise<string | undefined> {
  const r = await execa('docker', ['image', 'inspect', '--format', `{{index .Config.Labels "${INPUTS_LABEL}"}}`, tag], {
    reject: false,
  });
  return r.exitCode === 0 ? String(r.stdout).trim() : undefined;
}

/** imageExists: the engine has this image locally (never asks a registry). */
export async function imageExists(tag: string): Promise<boolean> {
  const r = await execa('docker', ['image', 'inspect', '--format', '{{.Id}}', tag], { reject: false });
  return r.exitCode === 0;
}

/**
 * requireLocalImages fails with a clear message when an image is missing, before anything (docker run, kind,
 * compose, a kubelet) could try to pull it: kmslab never pulls.
 */
export async function requireLocalImages(
  tags: string[],
  fix = 'build them with: kmslab build --images',
): Promise<void> {
  const missing: string[] = [];
  for (const tag of tags) if (!(await imageExists(tag))) missing.push(tag);
  if (missing.length) {
    throw new KmslabError(
      'missing-binary',
      `image(s) not on this engine: ${missing.join(', ')}. kmslab never pulls images; ${fix}`,
    );
  }
}

/** importImage makes an image from a tar stream of a root filesystem (`docker import`): no builder, no registry. */
export async function importImage(
  tarCommand: [string, string[]],
  tag: string,
  inputs: string,
  changes: string[] = [],
): Promise<void> {
  const args = ['import', '--change', `LABEL ${INPUTS_LABEL}=${inputs}`];
  for (const c of changes) args.push('--change', c);
  await streamInto(tarCommand, ['docker', [...args, '-', tag]], `docker import of ${tag}`);
}

/**
 * streamInto runs `from | to` without holding the stream in memory (images are hundreds of MB); a failure of
 * either side throws with both sides' error output.
 */
export async function streamInto(from: [string, string[]], to: [string, string[]], what: string): Promise<string> {
  const r = await execa(from[0], from[1], { reject: false, buffer: { stdout: false } }).pipe(to[0], to[1], {
    reject: false,
    all: true,
  });
  const source = r.pipedFrom[0];
  if (r.exitCode !== 0 || (source && source.exitCode !== 0)) {
    const output = [String(source?.stderr ?? ''), String(r.all ?? '')].join('\n').trim();
    throw new KmslabError('build-failed', `${what} failed:\n${output.split('\n').slice(-15).join('\n')}`);
  }
  return String(r.stdout ?? '');
}

/** docker runs the docker CLI and returns its stdout (errors carry the command and its output). */
export function docker(args: string[], options: { input?: string | Buffer; timeoutMs?: number } = {}): Promise<string> {
  return runCommand('docker', args, options);
}
