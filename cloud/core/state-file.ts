import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * StateFile keeps one JSON document in `<dir>/<name>` (0600, dir 0700): written to a temp file, fsynced and renamed
 * over the old one, so a kill -9 at any moment leaves the old state or the new one, never half of each.
 */
export class StateFile<T> {
  constructor(
    readonly dir: string,
    readonly name: string,
  ) {}

  get path(): string {
    return join(this.dir, this.name);
  }

  async load(): Promise<T | undefined> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    try {
      return JSON.parse(text) as T;
    } catch (error) {
      throw new Error(
        `${this.path} is not valid JSON (${(error as Error).message}); restore it or use another state dir`,
      );
    }
  }

  async save(value: T): Promise<void> {
    const temp = `${this.path}.${process.pid}.tmp`;
    const handle = await open(temp, 'w', 0o600);
    try {
      await handle.writeFile(JSON.stringify(value));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, this.path);
  }
}
