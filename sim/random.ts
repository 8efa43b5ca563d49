import { createHash, randomBytes } from 'node:crypto';

/** Random is the only source of randomness the models use, so a seed can replay a run exactly. */
export interface Random {
  bytes(length: number): Buffer;
  /** A float in [0, 1). */
  float(): number;
}

/** systemRandom draws from the operating system's CSPRNG; use it for anything real. */
export const systemRandom: Random = {
  bytes: (length) => randomBytes(length),
  float: () => randomBytes(4).readUInt32BE(0) / 2 ** 32,
};

/** seededRandom is a deterministic stream (SHA-256 in counter mode) for replayable simulations and tests. */
export function seededRandom(seed: string | number): Random {
  const key = createHash('sha256').update(String(seed)).digest();
  let counter = 0;
  let pool = Buffer.alloc(0);
  const bytes = (length: number): Buffer => {
    while (pool.length < length) {
      const block = createHash('sha256').update(key).update(String(counter++)).digest();
      pool = Buffer.concat([pool, block]);
    }
    const out = pool.subarray(0, length);
    pool = pool.subarray(length);
    return Buffer.from(out);
  };
  return { bytes, float: () => bytes(4).readUInt32BE(0) / 2 ** 32 };
}
