import getPort from 'get-port';

/** freePort is an unused port on 127.0.0.1. Another process may take it before the server binds it: see onFreshPorts. */
export function freePort(): Promise<number> {
  return getPort({ host: '127.0.0.1' });
}

/**
 * onFreshPorts runs a server start, and when it fails because a chosen port was taken in the meantime (the log
 * says "address already in use"), picks new ports and tries again, up to three times.
 */
export async function onFreshPorts(
  start: () => Promise<void>,
  repick: () => Promise<void>,
  logTail: () => Promise<string>,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (error) {
      if (attempt >= 3 || !/address already in use/.test(await logTail())) throw error;
      await repick();
    }
  }
}
