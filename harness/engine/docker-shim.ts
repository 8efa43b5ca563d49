import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { execa } from 'execa';
import { KmslabError } from '../common/errors.js';

export interface DockerShimOptions {
  /** Add `--runtime=<name>` to every `docker run` and `docker create` (kind's node containers). */
  runtime?: string;
  /** Run this Docker Compose v2 binary for `docker compose …` (testcontainers calls `docker compose`). */
  compose?: string;
}

/**
 * writeDockerShim writes a `docker` script into dir that adds what kmslab needs to the calls a tool makes (kind,
 * testcontainers' compose client) and passes everything else to the real docker unchanged. It only affects
 * processes given `shimPath(dir)` as their PATH: the user's docker and the engine's defaults stay as they are.
 */
export async function writeDockerShim(dir: string, o: DockerShimOptions): Promise<string> {
  const real = await realDocker(dir);
  const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  const lines = ['#!/bin/sh', '# Written by kmslab (harness/engine/docker-shim.ts): see there for why.'];
  if (o.compose) lines.push(`if [ "$1" = compose ]; then shift; exec ${q(o.compose)} "$@"; fi`);
  if (o.runtime) {
    lines.push(`case "$1" in run|create) cmd=$1; shift; exec ${q(real)} "$cmd" --runtime=${q(o.runtime)} "$@";; esac`);
  }
  lines.push(`exec ${q(real)} "$@"`, '');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const shim = join(dir, 'docker');
  await writeFile(shim, lines.join('\n'));
  await chmod(shim, 0o755);
  return dir;
}

/** shimPath is PATH with the shim directory first. */
export function shimPath(dir: string): string {
  return [dir, process.env.PATH ?? ''].join(delimiter);
}

async function realDocker(shimDir: string): Promise<string> {
  const path = (process.env.PATH ?? '')
    .split(delimiter)
    .filter((d) => d && d !== shimDir)
    .join(delimiter);
  const r = await execa('sh', ['-c', 'command -v docker'], { env: { PATH: path }, reject: false });
  if (r.exitCode !== 0) throw new KmslabError('failed', 'the docker CLI is not on PATH; install docker.io');
  return String(r.stdout).trim();
}
