import { chmod, mkdir, rm, stat } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createAdaptorServer } from '@hono/node-server';
import { controlApp, type ControlTarget } from './control-api.js';

/** ControlServer is a control API being served on a unix socket; close stops it and removes the socket. */
export interface ControlServer {
  close(): Promise<void>;
}

/** serveControl serves the control API of a target on a private (0600) unix socket. */
export function serveControl(target: ControlTarget, path: string): Promise<ControlServer> {
  return serveApp(controlApp(target), path);
}

/** serveApp serves a hono app on a private (0600) unix socket; close stops it and removes the socket. */
export async function serveApp(
  app: { fetch: (request: Request) => Response | Promise<Response> },
  path: string,
): Promise<ControlServer> {
  await rm(path, { force: true });
  const server = createAdaptorServer({ fetch: app.fetch }) as Server;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  await chmod(path, 0o600);
  return {
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await rm(path, { force: true });
    },
  };
}

// Sockets live in a directory only their owner can enter. A missing one is created 0700; an existing one is left
// as it is (never chmod someone else's directory, such as /tmp) and refused if others can reach into it.
export async function privateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const mode = (await stat(dir)).mode & 0o777;
  if (mode & 0o077) {
    throw new Error(
      `socket directory ${dir} is open to other users (mode ${mode.toString(8)}); put the plugin's sockets in a private directory (created 0700 if missing), e.g. --socket ~/.kmslab/kms/kms.sock`,
    );
  }
}
