import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { Keyring, systemRandom, type KeyringSnapshot } from '../sim/index.js';

const FILE = 'keyring.json';

/**
 * StateStore keeps the keyring in `<dir>/keyring.json` (0600, dir 0700). Every change is written to a temp
 * file, fsynced and renamed over the old one, so a kill -9 at any moment leaves either the old or the new state.
 */
export class StateStore {
  constructor(readonly dir: string) {}

  /** load returns the saved keyring, or a new one (saved at once) when the dir holds none. */
  async load(): Promise<Keyring> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    let text: string;
    try {
      text = await readFile(join(this.dir, FILE), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      const ring = Keyring.create({ random: systemRandom, now: Date.now });
      await this.save(ring);
      return ring;
    }
    let snapshot: KeyringSnapshot;
    try {
      snapshot = JSON.parse(text) as KeyringSnapshot;
    } catch (error) {
      throw new Error(
        `${join(this.dir, FILE)} is not valid JSON (${(error as Error).message}); restore it or use another --state-dir`,
      );
    }
    return Keyring.restore(snapshot, { random: systemRandom, now: Date.now });
  }

  async save(ring: Keyring): Promise<void> {
    const target = join(this.dir, FILE);
    const temp = `${target}.${process.pid}.tmp`;
    const handle = await open(temp, 'w', 0o600);
    try {
      await handle.writeFile(JSON.stringify(ring.snapshot()));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, target);
  }
}
