import { join } from 'node:path';
import { buildGoTool, goTools } from '../../binaries/go-tools.js';
import type { ProgressListener } from '../../binaries/build.js';
import { packageRoot } from '../../common/paths.js';
import { runCommand } from '../../process/run-command.js';

/** The compose file every compose lab runs. */
export const COMPOSE_FILE = join(packageRoot, 'docker-compose.yml');

/** composeBinary is Docker Compose v2, built from its Go module into the per-machine cache (once). */
export async function composeBinary(onProgress?: ProgressListener): Promise<string> {
  if (process.env.KMSLAB_DOCKER_COMPOSE) return process.env.KMSLAB_DOCKER_COMPOSE;
  return join((await buildGoTool(goTools.dockerCompose, onProgress)).dir, 'docker-compose');
}

/**
 * composeDown removes a compose lab's containers, network and volumes by its project name, from the record alone:
 * `kmslab down` uses it when the process that started the lab is gone.
 */
export async function composeDown(project: string, composeDir: string): Promise<void> {
  await runCommand(await composeBinary(), ['-p', project, '-f', COMPOSE_FILE, 'down', '--volumes', '--timeout', '5'], {
    env: { ...process.env, KMSLAB_COMPOSE_DIR: composeDir },
    timeoutMs: 120_000,
  });
}
