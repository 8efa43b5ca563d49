import { open } from 'node:fs/promises';

/** writePrivate writes a file only its owner can read (0600, also when it existed with a wider mode). */
export async function writePrivate(path: string, text: string): Promise<void> {
  const handle = await open(path, 'w', 0o600);
  try {
    await handle.chmod(0o600);
    await handle.writeFile(text);
  } finally {
    await handle.close();
  }
}
