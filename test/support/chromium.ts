import { spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { brotliDecompressSync, createBrotliDecompress } from 'node:zlib';
import { cacheRoot } from '../../harness/common/paths.js';

/** A headless Chromium to launch, and the environment it needs. */
export interface Browser {
  executablePath: string;
  env: Record<string, string>;
  /** Where it came from, for test messages. */
  source: string;
}

/**
 * findChromium gives the browser tests a Chromium on any machine, with nothing but `npm ci` behind it:
 * `$KMSLAB_CHROMIUM`, else Debian's /usr/bin/chromium, else the build the dev dependency @sparticuz/chromium carries
 * inside its npm tarball (brotli-packed, with the NSS libraries it links), unpacked once into kmslab's cache.
 */
export async function findChromium(): Promise<Browser> {
  const named = process.env.KMSLAB_CHROMIUM;
  if (named) return { executablePath: named, env: {}, source: `$KMSLAB_CHROMIUM (${named})` };
  if (existsSync('/usr/bin/chromium')) return { executablePath: '/usr/bin/chromium', env: {}, source: 'Debian' };
  const pkg = packageDir(createRequire(import.meta.url).resolve('@sparticuz/chromium'));
  const version = (JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { version: string }).version;
  const dir = join(cacheRoot(), 'chromium', version);
  const executablePath = join(dir, 'chromium');
  if (!existsSync(executablePath)) await unpack(join(pkg, 'bin'), dir);
  return {
    executablePath,
    env: { LD_LIBRARY_PATH: [join(dir, 'lib'), process.env.LD_LIBRARY_PATH].filter(Boolean).join(':') },
    source: `npm @sparticuz/chromium ${version}`,
  };
}

// The package exports no package.json: walk up from its entry point.
function packageDir(entry: string): string {
  let dir = dirname(entry);
  while (!existsSync(join(dir, 'bin', 'chromium.br'))) {
    if (dirname(dir) === dir) throw new Error(`@sparticuz/chromium has no bin/chromium.br above ${entry}`);
    dir = dirname(dir);
  }
  return dir;
}

// Unpacked beside the final place and renamed into it, so test files that start at once never see half a browser.
async function unpack(from: string, dir: string): Promise<void> {
  await mkdir(dirname(dir), { recursive: true, mode: 0o700 });
  const work = await mkdtemp(`${dir}.part-`);
  try {
    await pipeline(
      createReadStream(join(from, 'chromium.br')),
      createBrotliDecompress(),
      createWriteStream(join(work, 'chromium')),
    );
    await chmod(join(work, 'chromium'), 0o700);
    // The NSS libraries it links, for machines without Debian's libnss3 (lib/ in the archive).
    // A few MB: tar stops reading at the archive's end marker, so it gets the whole buffer, not a stream.
    const tar = spawnSync('tar', ['-x', '-C', work], {
      input: brotliDecompressSync(await readFile(join(from, 'al2023.tar.br'))),
    });
    if (tar.status !== 0) throw new Error(`tar could not unpack ${from}/al2023.tar.br: ${tar.stderr.toString()}`);
    await rename(work, dir).catch(async (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error; // another test file won the race
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
