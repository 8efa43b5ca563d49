import { execa } from 'execa';
import { KmslabError } from '../common/errors.js';

/** hasCommand: an executable of that name is on PATH (or at that path). */
export async function hasCommand(command: string): Promise<boolean> {
  const { exitCode } = await execa('sh', ['-c', 'command -v "$1"', 'sh', command], { reject: false });
  return exitCode === 0;
}

/**
 * aptInstall installs Debian packages on this machine with apt-get (root only). It reads the package lists the
 * machine has and refreshes them once (`apt-get update`) only if a package is not found. `say` is told first.
 */
export async function aptInstall(packages: string[], why: string, say: (m: string) => void): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new KmslabError(
      'failed',
      `${why}, and installing it needs root: run as root, or install it yourself: apt-get install ${packages.join(' ')}`,
    );
  }
  if (!(await hasCommand('apt-get'))) {
    throw new KmslabError('failed', `${why}, and this machine has no apt-get: install ${packages.join(' ')} yourself`);
  }
  say(`${why}: installing Debian's ${packages.join(', ')} with apt-get`);
  const install = () =>
    execa('apt-get', ['install', '-y', '--no-install-recommends', ...packages], {
      reject: false,
      all: true,
      env: { DEBIAN_FRONTEND: 'noninteractive' },
    });
  let result = await install();
  if (result.exitCode !== 0 && /Unable to locate package|has no installation candidate/.test(String(result.all))) {
    say('  refreshing the package lists (apt-get update)');
    await execa('apt-get', ['update'], { reject: false });
    result = await install();
  }
  if (result.exitCode !== 0) {
    const tail = String(result.all).trimEnd().split('\n').slice(-15).join('\n');
    throw new KmslabError('failed', `apt-get install ${packages.join(' ')} failed (exit ${result.exitCode}):\n${tail}`);
  }
}
